"""WebSocketClientSource: connects to a WebSocket server; its messages are events. Reconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from pydantic import Field, model_validator

import pump
from pump_http.client import ClientConfig, make_session, public_url, url_problem
from pump_http.errors import WebSocketError
from pump_http.messages import DATA, MessageError, MessageFormat, decode

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)


class WebSocketURLConfig(pump.ComponentConfig):
    """Base of a WebSocket client's config model: the ws:// or wss:// URL it connects to."""

    url: str = Field(..., description="Server to connect to", examples=["wss://example.com/feed"])

    @model_validator(mode="after")
    def _websocket_url(self) -> WebSocketURLConfig:
        bad_url = url_problem(self.url, ("ws", "wss"))
        if bad_url:
            raise ValueError(bad_url)
        return self


class WebSocketClientSourceConfig(WebSocketURLConfig, ClientConfig, pump.ReconnectConfig):
    """Settings of a WebSocketClientSource."""

    message: MessageFormat = Field(
        "auto",
        description="What a message is: auto (text as str, binary as bytes), text, bytes, or "
        "json (parsed; a message that is not JSON goes to the error policy)",
    )
    subscribe: list[Any] = Field(
        [],
        description="Messages sent after every connect (str as text, anything else as JSON)",
        examples=[[{"type": "subscribe", "channels": ["ticker"]}]],
    )
    max_message_size: int = Field(
        4 * 1024 * 1024, gt=0, le=1024**3, description="Largest message accepted, bytes"
    )
    heartbeat: float = Field(
        30.0, ge=0, description="Seconds between pings; a server that does not answer is left"
    )


class WebSocketClientSource(pump.Source):
    """Keeps a WebSocket connection to `url`; every text or binary message is an event.

    After each connect it sends the `subscribe` messages. When the connection fails or is lost
    it connects again after a pause that grows while it keeps failing (`reconnect_delay` up to
    `reconnect_delay_max`); every loss is logged (rate-limited) and counted, and never stops
    the pipeline. A message is read only once the pipeline is ready, so a full pipeline
    stops reading and TCP flow control holds the server back. The context carries `ws_url`.
    """

    ConfigModel = WebSocketClientSourceConfig
    Config: WebSocketClientSourceConfig

    connected = pump.Gauge("1 while connected to the server")
    reconnects = pump.Counter("Times the link was re-established after a loss")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._session: aiohttp.ClientSession | None = None
        self._log = pump.RateLimitedLog(L, 10.0)

    async def start(self) -> None:
        """Open the client session (the connection is made by main())."""
        self._session = make_session(self.Config)

    async def stop(self) -> None:
        """Close the client session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def main(self) -> None:
        """Connect, read, and connect again when the connection is lost; until stopped."""
        c = self.Config
        backoff = c.backoff()
        where = public_url(c.url, c)
        ever_connected = False
        while True:
            session = self._session
            if session is None:
                raise WebSocketError(f"{self.location()}: not started")
            try:
                async with session.ws_connect(
                    c.url,
                    max_msg_size=c.max_message_size,
                    heartbeat=c.heartbeat or None,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=c.timeout),
                ) as ws:
                    if ever_connected:
                        self.reconnects += 1
                        L.info("%s: connected to %s again", self.location(), where)
                    ever_connected = True
                    self.connected = 1
                    backoff.reset()
                    for subscription in c.subscribe:
                        await ws.send_str(
                            subscription
                            if isinstance(subscription, str)
                            else orjson.dumps(subscription).decode()
                        )
                    await self._read(ws, {"ws_url": where})
                    lost: BaseException = WebSocketError(
                        f"{self.location()}: {where} closed the connection (code {ws.close_code})"
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                lost = WebSocketError(
                    f"{self.location()}: connection to {where} failed: {type(exc).__name__}: {exc}"
                )
            self.connected = 0
            delay = backoff.next_delay()
            self.Pipeline.report_error(self, lost)
            self._log.warning("%s; connecting again in %.2fs", lost, delay)
            await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, context: dict[str, Any]) -> None:
        fmt = self.Config.message
        pipeline = self.Pipeline
        while True:
            await pipeline.ready()  # not reading holds the server back (TCP flow control)
            message = await ws.receive()
            if message.type not in DATA:
                return  # closed, or failed (ws.exception() says why)
            try:
                event = decode(message.type, message.data, fmt)
            except MessageError as exc:
                error = MessageError(f"{self.location()}: {exc}")
                await self.emit([message.data], context, errors={0: error})
                continue
            await self.emit([event], context)
