"""WebSocketServerSource: messages from clients that connect to it are events (BSPump's)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, web
from pydantic import Field

import pump
from pump_http.auth import RequestAuth, TokenAuthConfig
from pump_http.listener import Listener, ListenerConfig
from pump_http.messages import DATA, MessageError, MessageFormat, decode

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)


class WebSocketServerSourceConfig(ListenerConfig, TokenAuthConfig):
    """Settings of a WebSocketServerSource."""

    message: MessageFormat = Field(
        "auto",
        description="What a message is: auto (text as str, binary as bytes), text, bytes, or "
        "json (parsed; a message that is not JSON goes to the error policy)",
    )
    max_message_size: int = Field(
        4 * 1024 * 1024, gt=0, le=1024**3, description="Largest message accepted, bytes"
    )
    max_connections: int = Field(
        100, gt=0, le=100_000, description="Clients connected at once (more are answered 503)"
    )
    heartbeat: float = Field(
        30.0, ge=0, description="Seconds between pings; a client that does not answer is closed"
    )


class WebSocketServerSource(pump.Source):
    """Accepts WebSocket connections; every text or binary message is an event.

    Clients connect to `ws://host:port/path` (127.0.0.1 by default), with the token when one
    is set (else 401 before the upgrade); beyond `max_connections` they get 503. A message
    is read only once the pipeline is ready, so a full pipeline stops reading the sockets and
    TCP flow control holds the senders back. The context carries `ws_remote`, `ws_path` and
    `ws_connection` (a number per connection). A WebSocket has no acknowledgement: a sender
    that must know its messages were processed needs one of its own.
    """

    ConfigModel = WebSocketServerSourceConfig
    Config: WebSocketServerSourceConfig

    connections = pump.Gauge("Clients connected now")
    unauthorized = pump.Counter("Requests answered 401 (no or a wrong token or signature)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        c = self.Config
        self.auth = RequestAuth(c)
        web_app = web.Application()
        web_app.router.add_get(c.path, self._handle)
        self.listener = Listener(web_app, c, self.location())
        self._sockets: set[web.WebSocketResponse] = set()
        self._numbers = itertools.count(1)
        self._accepting = False
        self._closing = asyncio.Event()
        self._bad_log = pump.RateLimitedLog(L, 10.0)

    @property
    def port(self) -> int:
        """The port listened on (known once started)."""
        return self.listener.port

    @property
    def url(self) -> str:
        """The ws:// URL clients connect to, as seen from this machine."""
        return "ws" + self.listener.url.removeprefix("http")

    async def start(self) -> None:
        """Listen (connections before the pipeline runs are answered 503)."""
        await self.listener.start(authenticated=self.auth.checks_token)

    async def main(self) -> None:
        """Accept connections until stopped; each connection's handler does the work."""
        self._closing.clear()
        self._accepting = True
        try:
            await asyncio.Event().wait()
        finally:
            self._accepting = False

    async def stop(self) -> None:
        """Close every connection (1001 going away) and the listener."""
        self._accepting = False
        self._closing.set()  # readers waiting for the pipeline give up
        await self._close_all()
        await self.listener.stop()

    async def _close_all(self) -> None:
        # one after the other, in this task: closing from other tasks (gather, wait_for) lets
        # the connection drop before the close frame is out (the client sees 1006); each
        # close waits at most shutdown_timeout for the client's answer
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    def accepting(self) -> bool:
        """True while the source runs."""
        return self._accepting

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting():
            return _answer(503, "the pipeline is not running")
        if self.auth.checks_token and not self.auth.token_ok(request.headers):
            self.unauthorized += 1
            return _answer(401, "missing or wrong token")
        c = self.Config
        if len(self._sockets) >= c.max_connections:
            return _answer(503, f"{c.max_connections} clients are connected already")
        ws = web.WebSocketResponse(max_msg_size=c.max_message_size, heartbeat=c.heartbeat or None)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connections = len(self._sockets)
        try:
            await self._read(ws, request)
        finally:
            self._sockets.discard(ws)
            self.connections = len(self._sockets)
        return ws

    async def _read(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        context = {
            "ws_remote": request.remote,
            "ws_path": request.path,
            "ws_connection": next(self._numbers),
        }
        fmt = self.Config.message
        pipeline = self.Pipeline
        while True:
            # not reading holds the sender back (TCP flow control)
            if not pipeline.is_ready() and not await self._ready_or_closing():
                return
            message = await ws.receive()
            if message.type not in DATA:
                if message.type == web.WSMsgType.ERROR:
                    self._bad_log.warning(
                        "%s: connection from %s failed: %s",
                        self.location(),
                        request.remote,
                        ws.exception(),
                    )
                return  # closed by the client, or the server is stopping
            try:
                event = decode(message.type, message.data, fmt)
            except MessageError as exc:
                error = MessageError(f"{self.location()}: from {request.remote}: {exc}")
                await self.emit([message.data], context, errors={0: error})
                continue
            await self.emit([event], context)

    async def _ready_or_closing(self) -> bool:
        """Wait until the pipeline is ready (True) or the source is closing (False)."""
        ready = asyncio.ensure_future(self.Pipeline.ready())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait((ready, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            closing.cancel()
        return not self._closing.is_set()


def _answer(status: int, error: str) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps({"error": error}), content_type="application/json"
    )
