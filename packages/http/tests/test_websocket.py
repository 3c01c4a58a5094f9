"""WebSocket sources and sink against local aiohttp peers: messages, auth, backpressure,
reconnects."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import WSMsgType, web

import pump
from pump.testing import BatchRecord, CollectingSink, HarnessSource, wait_until
from pump_http import WebSocketClientSource, WebSocketServerSource, WebSocketSink
from pump_http.testing import serve


def ws_server(**config):
    def make(app, pipeline):
        return WebSocketServerSource(app, pipeline, "ws", config={"port": 0, **config})

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- WebSocketServerSource -------------------------------------------------------------------


async def test_text_and_binary_messages_are_events(running, http):
    async with running(ws_server(path="/feed")) as rig:
        assert rig.source.url.startswith("ws://127.0.0.1:") and rig.source.url.endswith("/feed")
        async with http.ws_connect(rig.source.url) as ws:
            await ws.send_str("hello")
            await ws.send_bytes(b"\x00\x01")
            assert await wait_until(lambda: len(rig.sink.events) == 2, 5)
            assert rig.source.connections == 1
        assert rig.sink.events == ["hello", b"\x00\x01"]
        context = rig.sink.contexts[0]
        assert context["ws_path"] == "/feed"
        assert context["ws_remote"] == "127.0.0.1"
        assert context["ws_connection"] == 1
        assert await wait_until(lambda: rig.source.connections == 0, 5)


async def test_json_messages_and_a_bad_one_to_the_error_policy(running, http):
    async with running(ws_server(message="json"), {"on_error": "skip"}) as rig:
        async with http.ws_connect(rig.source.url) as ws:
            await ws.send_str('{"a": 1}')
            await ws.send_str("{broken")
            await ws.send_bytes(b"[1, 2]")
            assert await wait_until(lambda: len(rig.sink.events) == 2, 5)
        assert rig.sink.events == [{"a": 1}, [1, 2]]
        assert rig.pipeline.counters.errors == 1
        assert "not JSON" in str(rig.pipeline.errors[-1].error)


async def test_without_the_token_the_upgrade_is_refused(running, http):
    async with running(ws_server(token="s3cret")) as rig:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(rig.source.url)
        assert refused.value.status == 401
        headers = {"Authorization": "Bearer s3cret"}
        async with http.ws_connect(rig.source.url, headers=headers) as ws:
            await ws.send_str("in")
            assert await wait_until(lambda: rig.sink.events == ["in"], 5)
        assert rig.source.unauthorized == 1


async def test_connections_beyond_the_limit_get_503(running, http):
    async with running(ws_server(max_connections=1)) as rig, http.ws_connect(rig.source.url):
        assert await wait_until(lambda: rig.source.connections == 1, 5)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(rig.source.url)
        assert refused.value.status == 503


async def test_a_full_pipeline_stops_reading_the_socket(running, http):
    async with running(ws_server(), {"max_in_flight": 2}) as rig:
        rig.sink.block()
        async with http.ws_connect(rig.source.url) as ws:
            payload = "x" * 10_000

            async def flood():
                for i in range(3000):  # 30 MB: more than the socket buffers hold
                    await ws.send_str(f"{i:05d}{payload}")

            sending = asyncio.create_task(flood())
            await asyncio.sleep(1.0)
            handed = rig.pipeline.counters.events_in
            assert handed <= 3, f"the source read on although the pipeline was full: {handed}"
            assert not sending.done(), "the sender was not held back"
            rig.sink.release()
            await asyncio.wait_for(sending, 20)
            assert await wait_until(lambda: len(rig.sink.events) == 3000, 20)
        assert [int(e[:5]) for e in rig.sink.events] == list(range(3000))


async def test_stop_closes_the_connections_going_away(running, http):
    async with running(ws_server()) as rig:
        ws = await http.ws_connect(rig.source.url)
        assert await wait_until(lambda: rig.source.connections == 1, 5)
        await rig.app.stop(timeout=1)
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == 1001
        await ws.close()


# -- WebSocketClientSource -------------------------------------------------------------------


class FeedServer:
    """A WebSocket server: it sends `self.messages` to every client, records what clients send,
    and can drop every connection."""

    def __init__(self, messages=()) -> None:
        self.messages = list(messages)
        self.received: list[str] = []
        self.clients: list[web.WebSocketResponse] = []
        self.connects = 0
        self.app = web.Application()
        self.app.router.add_get("/feed", self._feed)

    async def _feed(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connects += 1
        self.clients.append(ws)
        for message in self.messages:
            await ws.send_str(message)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.received.append(message.data)
        return ws

    async def drop_all(self) -> None:
        for ws in self.clients:
            await ws.close()
        self.clients.clear()


def ws_client(url, **config):
    def make(app, pipeline):
        return WebSocketClientSource(
            app,
            pipeline,
            "wsc",
            config={"url": url, "reconnect_delay": 0.05, "reconnect_delay_max": 0.2, **config},
        )

    return make


async def test_the_client_source_subscribes_and_reads(running):
    server = FeedServer(["one", "two"])
    async with serve(server.app) as base:
        url = "ws" + base.removeprefix("http") + "/feed"
        subscribe = [{"type": "subscribe", "channel": "ticker"}, "plain"]
        async with running(ws_client(url, subscribe=subscribe)) as rig:
            assert await wait_until(lambda: rig.sink.events == ["one", "two"], 5)
            assert rig.source.connected == 1
            assert await wait_until(lambda: len(server.received) == 2, 5)
    assert server.received == ['{"type":"subscribe","channel":"ticker"}', "plain"]
    assert rig.sink.contexts[0]["ws_url"] == url


async def test_the_client_source_reconnects_after_the_server_drops_it(running):
    server = FeedServer(["hello"])
    async with serve(server.app) as base:
        url = "ws" + base.removeprefix("http") + "/feed"
        async with running(ws_client(url, subscribe=["sub"])) as rig:
            assert await wait_until(lambda: rig.sink.events == ["hello"], 5)
            assert await wait_until(lambda: server.received == ["sub"], 5)
            await server.drop_all()
            assert await wait_until(lambda: rig.sink.events == ["hello", "hello"], 5)
            assert rig.source.reconnects == 1
            # subscribed again (the server reads it after sending its greeting)
            assert await wait_until(lambda: server.received == ["sub", "sub"], 5)
            assert not rig.pipeline.is_error()
            assert rig.pipeline.counters.errors == 1  # the loss, counted


async def test_the_client_source_waits_out_a_server_that_is_away(running):
    port = free_port()
    url = f"ws://127.0.0.1:{port}/feed"
    server = FeedServer(["back"])
    async with running(ws_client(url)) as rig:
        assert await wait_until(lambda: rig.pipeline.counters.errors >= 3, 5)
        assert rig.source.connected == 0
        async with serve(server.app, port=port):
            assert await wait_until(lambda: rig.sink.events == ["back"], 5)
        assert not rig.pipeline.is_error()


# -- WebSocketSink ---------------------------------------------------------------------------


async def deliver(url, events, **config):
    """Send events through a WebSocketSink; the records of their batches."""
    app = pump.Application(exit_when_finished=False, args=[])
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.02, "on_error": "skip"})
    source = HarnessSource(app, pipeline)
    sink = WebSocketSink(app, pipeline, "out", config={"url": url, **config})
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    source.feed([({}, e) for e in events])
    await app.start()
    try:
        assert await wait_until(
            lambda: all(r.status != BatchRecord.PENDING for r in source.records), 10
        )
    finally:
        await app.stop(timeout=1)
    return source.records, sink


async def test_the_sink_sends_text_binary_and_json():
    server = FeedServer()
    binary: list[bytes] = []

    async def record(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                binary.append(message.data)
            else:
                server.received.append(message.data)
        return ws

    server.app = web.Application()
    server.app.router.add_get("/in", record)
    async with serve(server.app) as base:
        url = "ws" + base.removeprefix("http") + "/in"
        records, sink = await deliver(url, ["text", b"\x00bin", {"a": 1}, {1, 2}])
    assert [r.status for r in records] == [BatchRecord.ACKNOWLEDGED] * 4
    assert server.received == ["text", '{"a":1}']
    assert binary == [b"\x00bin"]
    assert sink.counters.errors >= 1  # the set is no JSON: handled by the policy (skip)


async def test_the_sink_reconnects_when_the_server_comes_back():
    port = free_port()
    url = f"ws://127.0.0.1:{port}/feed"
    server = FeedServer()
    app = pump.Application(exit_when_finished=False, args=[])
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.02, "retry_backoff_max": 0.1})
    source = HarnessSource(app, pipeline)
    sink = WebSocketSink(app, pipeline, "out", config={"url": url})
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    source.feed([({}, "first")])
    await app.start()
    try:
        async with serve(server.app, port=port):
            assert await wait_until(lambda: server.received == ["first"], 5)
            await server.drop_all()
            assert await wait_until(lambda: sink.connected == 0, 5)
        source.feed([({}, "second")])
        asyncio.get_running_loop().create_task(source.main())
        await asyncio.sleep(0.3)  # the server is away: the write is retried
        assert source.records[-1].status == BatchRecord.PENDING
        async with serve(server.app, port=port):
            assert await wait_until(lambda: server.received == ["first", "second"], 5)
            assert await wait_until(
                lambda: source.records[-1].status == BatchRecord.ACKNOWLEDGED, 5
            )
        assert sink.reconnects == 1
    finally:
        await app.stop(timeout=1)


@pytest.mark.parametrize(
    ("cls", "config"),
    [(WebSocketClientSource, {"url": "http://x/"}), (WebSocketSink, {"url": "ftp://u:pw@x/"})],
)
def test_bad_urls_are_refused_without_showing_them(cls, config):
    app = pump.Application(args=[])
    with pytest.raises(pump.ConfigError) as error:
        cls(app, pump.Pipeline(app, "p"), config=config)
    assert "url: not a ws:// or wss:// URL" in str(error.value)
    assert "pw" not in str(error.value)


def test_collecting_sink_is_the_default_sink():
    assert CollectingSink


async def test_stopping_while_the_pipeline_is_full_does_not_wait_for_the_readers(running, http):
    async with running(ws_server(), {"max_in_flight": 1, "drain_timeout": 0.2}) as rig:
        rig.sink.block()
        async with http.ws_connect(rig.source.url) as ws:
            for n in range(5):
                await ws.send_str(str(n))
            assert await wait_until(lambda: not rig.pipeline.is_ready(), 5)
            started = asyncio.get_running_loop().time()
            await rig.app.stop(timeout=0.2)
            took = asyncio.get_running_loop().time() - started
        assert took < 2.0, f"stop took {took:.1f}s: a reader waiting for the pipeline held it up"
