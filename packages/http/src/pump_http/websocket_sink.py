"""WebSocketSink: sends each event as a message over a WebSocket it keeps open (BSPump's)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from aiohttp import WSMsgType
from pydantic import Field

import pump
from pump_http.client import ClientConfig, make_session, public_url
from pump_http.errors import WebSocketError
from pump_http.messages import encode
from pump_http.websocket_client import WebSocketURLConfig

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)


class WebSocketSinkConfig(WebSocketURLConfig, ClientConfig, pump.ReconnectConfig):
    """Settings of a WebSocketSink."""

    message: Literal["auto", "text", "binary"] = Field(
        "auto",
        description="auto: str as text, bytes as binary, anything else as JSON text; "
        "text or binary: every message so",
    )
    heartbeat: float = Field(
        30.0, ge=0, description="Seconds between pings; a server that does not answer is left"
    )
    confirm: bool = Field(
        True,
        description="A batch is done once the server answered a ping sent after it (it has "
        "received every message before); off: once written to the connection",
    )


class WebSocketSink(pump.Sink):
    """Sends every event as one message, in order, over one connection to `url`.

    A WebSocket has no acknowledgement of messages; with `confirm` (the default) the sink
    sends a ping after each batch, and the batch is done once the matching pong came back: a
    server answers pings in order, so it has received every message before it. Without
    `confirm` an event is done once written to the connection, and messages written just
    before the connection broke may be lost. When the connection fails (or the pong does not
    come within `timeout`), the batch's events fail for a retry (the pipeline's
    `sink_retries`, `retry_backoff`) and the next write connects again, so they may arrive
    twice. An event that cannot be made a message (not JSON-serializable, bytes that are not
    UTF-8 for `message: text`) fails for good.
    """

    ConfigModel = WebSocketSinkConfig
    Config: WebSocketSinkConfig

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
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._lock = asyncio.Lock()
        self._ever_connected = False
        self._tasks = pump.TaskGroup(self.location())
        # pings waiting for their pong: number → (connection, future)
        self._pings: dict[int, tuple[aiohttp.ClientWebSocketResponse, asyncio.Future[None]]] = {}
        self._ping_numbers = itertools.count(1)

    async def start(self) -> None:
        """Open the client session (the connection is made by the first write)."""
        self._session = make_session(self.Config)

    async def stop(self) -> None:
        """Close the connection and the session (the pipeline has drained before)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        await self._tasks.cancel()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self.connected = 0

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Send the batch's messages; the awaitable ends once the server has them."""
        return self._send(events)

    async def _send(self, events: list[Any]) -> None:
        fmt = self.Config.message
        errors: dict[int, BaseException] = {}
        pong: asyncio.Future[None] | None = None
        async with self._lock:  # batches go out whole and in order
            ws = await self._connection()
            try:
                for i, event in enumerate(events):
                    try:
                        payload = encode(event, fmt)
                    except (TypeError, ValueError) as exc:  # orjson, UnicodeDecodeError
                        errors[i] = pump.PermanentWriteError.wrap(self.location(), exc)
                        continue
                    if isinstance(payload, str):
                        await ws.send_str(payload)
                    else:
                        await ws.send_bytes(payload)
                if self.Config.confirm:
                    number, pong = self._ping(ws)
                    await ws.ping(str(number).encode())
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                self._lost(ws, exc)
                raise self._failed(events, errors, exc) from exc
        if pong is not None:
            try:
                await asyncio.wait_for(asyncio.shield(pong), self.Config.timeout)
            except (TimeoutError, WebSocketError) as exc:
                if isinstance(exc, TimeoutError):
                    self._lost(ws, exc)
                raise self._failed(events, errors, exc) from exc
        if errors:
            raise pump.PartialWriteError(errors)

    def _failed(
        self, events: list[Any], errors: dict[int, BaseException], exc: BaseException
    ) -> pump.PartialWriteError:
        """The batch's events not failed for good fail for a retry."""
        lost = WebSocketError(
            f"{self.location()}: sending to {self._where()} failed: "
            f"{type(exc).__name__}: {exc}".rstrip(": ")
        )
        return pump.PartialWriteError({i: errors.get(i, lost) for i in range(len(events))})

    def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[int, asyncio.Future[None]]:
        """A new ping's number and the future its pong resolves."""
        number = next(self._ping_numbers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[number] = (ws, future)
        return number, future

    def _ponged(self, data: bytes) -> None:
        """A pong came: its ping and every earlier one are answered (pongs come in order)."""
        try:
            number = int(data)
        except ValueError:
            return  # not one of ours (a heartbeat)
        for waiting in [n for n in self._pings if n <= number]:
            _, future = self._pings.pop(waiting)
            if not future.done():
                future.set_result(None)

    async def _connection(self) -> aiohttp.ClientWebSocketResponse:
        ws = self._ws
        if ws is not None and not ws.closed:
            return ws
        session = self._session
        if session is None:
            raise WebSocketError(f"{self.location()}: not started")
        c = self.Config
        try:
            ws = await session.ws_connect(
                c.url,
                heartbeat=c.heartbeat or None,
                autoping=False,  # pongs are read by _drain: they confirm batches
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=c.timeout),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise WebSocketError(
                f"{self.location()}: cannot connect to {self._where()}: {type(exc).__name__}: {exc}"
            ) from exc
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._ws = ws
        self.connected = 1
        self._tasks.spawn(self._drain(ws))
        return ws

    async def _drain(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read what the server sends: answer its pings, take our pongs, notice a close."""
        try:
            async for message in ws:
                if message.type == WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type == WSMsgType.PONG:
                    self._ponged(message.data)
                # other messages from the server are not events of this sink
        finally:
            self._lost(ws, None)

    def _lost(self, ws: aiohttp.ClientWebSocketResponse, exc: BaseException | None) -> None:
        """The connection is gone: forget it; its unanswered pings fail."""
        for number in [n for n, (w, _) in self._pings.items() if w is ws]:
            _, future = self._pings.pop(number)
            if not future.done():
                future.set_exception(
                    WebSocketError(f"{self.location()}: the connection closed before the pong")
                )
        if self._ws is ws:
            self._ws = None
            self.connected = 0
            why = f": {type(exc).__name__}: {exc}" if exc is not None else ""
            L.warning("%s: the connection to %s was lost%s", self.location(), self._where(), why)

    def _where(self) -> str:
        return public_url(self.Config.url, self.Config)
