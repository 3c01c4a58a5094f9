"""pump.testing's contract suites against pump-http's sources and sinks, with real local peers."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import aiohttp
import orjson
from aiohttp import web

import pump
from pump.testing import SinkContract, SourceContract
from pump_http import (
    HTTPClientSource,
    HTTPServerSource,
    HTTPSink,
    WebSocketClientSource,
    WebSocketServerSource,
    WebSocketSink,
)
from pump_http.testing import ThreadedServer


class Sender:
    """A webhook sender as real ones are: it posts each event and sends it again until a 200
    (429 and 5xx answers, refused connections), always to where the source listens now.

    It runs in a thread and event loop of its own, so it outlives each test's event loop.
    """

    def __init__(self) -> None:
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.session: aiohttp.ClientSession | None = None

    def send(self, events: list[Any]) -> None:
        for event in events:
            asyncio.run_coroutine_threadsafe(self._send(event), self.loop)

    async def _send(self, event: Any) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        while True:
            if self.url:
                try:
                    async with self.session.post(self.url, json=event) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
            await asyncio.sleep(0.02)

    def close(self) -> None:
        async def shut() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            if self.session is not None:
                await self.session.close()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class TestHTTPServerSource(SourceContract):
    supports_redelivery = True  # the sender sends again what was not answered 200
    produce_after_start = True
    expected_context_keys = ("http_method", "http_path", "http_remote")
    bad_configs = [{"max_body_size": 0}, {"path": "no-slash"}, {"methods": ["GET"]}]

    def prepare(self) -> None:
        self.teardown_method()
        self.sender = Sender()

    def make_source(self, app, pipeline, config=None):
        source = HTTPServerSource(
            app, pipeline, "webhook", config={"port": 0, "response_timeout": 0.5, **(config or {})}
        )
        self.source = source
        return source

    def produce(self, events):
        # the URL of the source running now (a restarted one listens on another port)
        self.sender.url = self.source.url
        self.sender.send(events)

    def teardown_method(self) -> None:
        sender = self.__dict__.pop("sender", None)
        if sender is not None:
            sender.close()


class Resource:
    """A polled resource: every event produced so far, as one JSON array with an ETag."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.app = web.Application()
        self.app.router.add_get("/events", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        etag = f'"{len(self.events)}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.json_response(self.events, headers={"ETag": etag})


class TestHTTPClientSource(SourceContract):
    # What was polled is in this process's memory only: a restarted source reads it all again.
    supports_redelivery = False
    expected_context_keys = ("http_url", "http_status", "http_headers")
    bad_configs = [{"url": "ftp://x/"}, {"max_pages": 0}, {"pagination": "cursor"}]

    def prepare(self) -> None:
        self.teardown_method()
        self.resource = Resource()
        self.server = ThreadedServer(self.resource.app)
        self.url = self.server.start()

    def teardown_method(self) -> None:
        server = self.__dict__.pop("server", None)
        if server is not None:
            server.stop()

    def make_source(self, app, pipeline, config=None):
        source = HTTPClientSource(
            app,
            pipeline,
            "poll",
            config={
                "url": self.url + "/events",
                "response": "json",
                "items_path": "",
                **(config or {}),
            },
        )
        return source.on(pump.PeriodicTrigger(app, 0.02))

    def produce(self, events):
        self.resource.events.extend(events)


class Store:
    """Where the sink writes: JSON bodies kept in order; it can refuse writes for a while."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.down = False
        self.app = web.Application()
        self.app.router.add_post("/store/{run}", self._store)
        self.app.router.add_post("/refuse", self._refuse)

    async def _store(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503)
        self.events.append(orjson.loads(await request.read()))
        return web.Response(status=201)

    async def _refuse(self, request: web.Request) -> web.Response:
        return web.Response(status=400, text="refused")


class TestHTTPSink(SinkContract):
    bad_configs = [{"url": "ftp://x/"}, {"max_concurrency": 0}, {"body": "xml"}]

    def prepare(self) -> None:
        self.teardown_method()
        self.store = Store()
        self.server = ThreadedServer(self.store.app)
        self.url = self.server.start()
        self.run = uuid.uuid4().hex[:8]

    def teardown_method(self) -> None:
        server = self.__dict__.pop("server", None)
        if server is not None:
            server.stop()

    def make_sink(self, app, pipeline, config=None):
        return HTTPSink(
            app, pipeline, "http", config={"url": f"{self.url}/store/{self.run}", **(config or {})}
        )

    def make_failing_sink(self, app, pipeline):
        return HTTPSink(app, pipeline, "http", config={"url": f"{self.url}/refuse"})

    def read_back(self):
        return list(self.store.events)

    def interrupt_destination(self) -> None:
        self.store.down = True

    def restore_destination(self) -> None:
        self.store.down = False


class LoopThread:
    """An event loop in a thread of its own, for peers that outlive each test's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class TestWebSocketServerSource(SourceContract):
    # A WebSocket has no acknowledgement: what a stopped source did not finish is not sent again.
    supports_redelivery = False
    produce_after_start = True
    expected_context_keys = ("ws_remote", "ws_path", "ws_connection")
    bad_configs = [{"max_connections": 0}, {"message": "xml"}, {"path": "x"}]

    def prepare(self) -> None:
        self.teardown_method()
        self.peer = LoopThread()

    def make_source(self, app, pipeline, config=None):
        self.source = WebSocketServerSource(
            app, pipeline, "ws", config={"port": 0, "message": "json", **(config or {})}
        )
        return self.source

    def produce(self, events):
        url = self.source.url

        async def send() -> None:
            session = aiohttp.ClientSession()
            ws = await session.ws_connect(url)
            for event in events:
                await ws.send_str(orjson.dumps(event).decode())
            try:
                await ws.receive()  # until the server closes it
            finally:
                await session.close()

        asyncio.run_coroutine_threadsafe(send(), self.peer.loop)

    def teardown_method(self) -> None:
        peer = self.__dict__.pop("peer", None)
        if peer is not None:
            peer.close()


class Broadcaster:
    """A WebSocket server that sends what is produced to its clients (kept until one comes)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.clients: set[web.WebSocketResponse] = set()
        self.app = web.Application()
        self.app.router.add_get("/feed", self._feed)

    async def _feed(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.clients.add(ws)
        pending, self.pending = self.pending, []
        for message in pending:
            await ws.send_str(message)
        async for _ in ws:
            pass
        self.clients.discard(ws)
        return ws

    async def send(self, messages: list[str]) -> None:
        if not self.clients:
            self.pending.extend(messages)
            return
        for ws in list(self.clients):
            for message in messages:
                await ws.send_str(message)


class TestWebSocketClientSource(SourceContract):
    supports_redelivery = False  # what the server sent while nobody listened is gone
    produce_after_start = True
    expected_context_keys = ("ws_url",)
    bad_configs = [{"url": "http://x/"}, {"max_message_size": 0}, {"reconnect_delay": 0}]

    def prepare(self) -> None:
        self.teardown_method()
        self.broadcaster = Broadcaster()
        self.server = ThreadedServer(self.broadcaster.app)
        self.url = "ws" + self.server.start().removeprefix("http") + "/feed"

    def make_source(self, app, pipeline, config=None):
        return WebSocketClientSource(
            app, pipeline, "wsc", config={"url": self.url, "message": "json", **(config or {})}
        )

    def produce(self, events):
        assert self.server._loop is not None
        messages = [orjson.dumps(e).decode() for e in events]
        asyncio.run_coroutine_threadsafe(self.broadcaster.send(messages), self.server._loop)

    def teardown_method(self) -> None:
        server = self.__dict__.pop("server", None)
        if server is not None:
            server.stop()


class Inbox:
    """A WebSocket server keeping every JSON message; it can refuse connections for a while."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.down = False
        self.app = web.Application()
        self.app.router.add_get("/in", self._in)
        self.app.router.add_get("/refuse", self._refuse)

    async def _in(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            self.events.append(orjson.loads(message.data))
        return ws

    async def _refuse(self, request: web.Request) -> web.Response:
        return web.Response(status=403)


class TestWebSocketSink(SinkContract):
    bad_configs = [{"url": "http://x/"}, {"message": "xml"}, {"heartbeat": -1}]

    def prepare(self) -> None:
        self.teardown_method()
        self.inbox = Inbox()
        self.server = ThreadedServer(self.inbox.app)
        self.url = "ws" + self.server.start().removeprefix("http")

    def make_sink(self, app, pipeline, config=None):
        return WebSocketSink(
            app, pipeline, "ws", config={"url": self.url + "/in", **(config or {})}
        )

    def make_failing_sink(self, app, pipeline):
        return WebSocketSink(app, pipeline, "ws", config={"url": self.url + "/refuse"})

    def read_back(self):
        return list(self.inbox.events)

    def interrupt_destination(self) -> None:
        self.inbox.down = True

    def restore_destination(self) -> None:
        self.inbox.down = False

    def teardown_method(self) -> None:
        server = self.__dict__.pop("server", None)
        if server is not None:
            server.stop()
