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
from pump_http import HTTPClientSource, HTTPServerSource, HTTPSink
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
