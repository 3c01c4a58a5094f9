"""HTTPClientSource against local aiohttp servers: responses, validators, pages, auth, outages."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket

import pytest
from aiohttp import web

import pump
from pump.testing import wait_until
from pump_http import HTTPClientSource
from pump_http.testing import serve


def poller(url, trigger=None, **config):
    def make(app, pipeline):
        source = HTTPClientSource(app, pipeline, "poll", config={"url": url, **config})
        return source.on(trigger or pump.PeriodicTrigger(app, 0.05))

    return make


def once(url, **config):
    def make(app, pipeline):
        source = HTTPClientSource(app, pipeline, "poll", config={"url": url, **config})
        return source.on(pump.RunOnceTrigger(app))

    return make


class Server:
    """An aiohttp app whose GET /data answers `self.reply()`; it records every request."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/data", self._data)
        self.reply = lambda request: web.json_response({"n": len(self.requests)})

    async def _data(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests.append(request)
        return self.reply(request)


async def test_the_response_is_the_event_with_status_headers_and_url(running):
    server = Server()
    async with serve(server.app) as base, running(poller(base + "/data")) as rig:
        assert await wait_until(lambda: len(rig.sink.events) >= 2, 5)
    assert rig.sink.events[:2] == [b'{"n": 1}', b'{"n": 2}']  # bytes, as BSPump's
    context = rig.sink.contexts[0]
    assert context["http_status"] == 200
    assert context["http_url"] == base + "/data"
    assert context["http_headers"]["Content-Type"].startswith("application/json")
    assert context["http_page"] == 0


async def test_json_and_text_responses(running):
    server = Server()
    async with serve(server.app) as base:
        async with running(once(base + "/data", response="json")) as rig:
            assert await wait_until(lambda: rig.sink.events == [{"n": 1}], 5)
        server.reply = lambda r: web.Response(text="héllo", charset="latin-1")
        async with running(once(base + "/data", response="text")) as rig:
            assert await wait_until(lambda: rig.sink.events == ["héllo"], 5)


async def test_an_unchanged_resource_is_not_emitted_again(running):
    server = Server()
    version = {"etag": '"v1"', "body": {"price": 1}}

    def reply(request):
        if request.headers.get("If-None-Match") == version["etag"]:
            return web.Response(status=304)
        return web.json_response(version["body"], headers={"ETag": version["etag"]})

    server.reply = reply
    async with serve(server.app) as base, running(poller(base + "/data", response="json")) as rig:
        assert await wait_until(lambda: rig.source.not_modified >= 3, 5)
        assert rig.sink.events == [{"price": 1}]
        version.update(etag='"v2"', body={"price": 2})
        assert await wait_until(lambda: len(rig.sink.events) == 2, 5)
        assert await wait_until(lambda: rig.source.not_modified >= 6, 5)
    assert rig.sink.events == [{"price": 1}, {"price": 2}]
    assert server.requests[0].headers.get("If-None-Match") is None
    assert server.requests[1].headers.get("If-None-Match") == '"v1"'


async def test_last_modified_is_sent_back(running):
    server = Server()
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"

    def reply(request):
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.json_response({"a": 1}, headers={"Last-Modified": stamp})

    server.reply = reply
    async with serve(server.app) as base, running(poller(base + "/data")) as rig:
        assert await wait_until(lambda: rig.source.not_modified >= 2, 5)
    assert len(rig.sink.events) == 1


async def test_without_conditional_every_poll_emits(running):
    server = Server()
    server.reply = lambda r: web.json_response({"a": 1}, headers={"ETag": '"same"'})
    make = poller  # the URL is known once the server runs
    async with serve(server.app) as base, running(make(base + "/data", conditional=False)) as rig:
        assert await wait_until(lambda: len(rig.sink.events) >= 3, 5)
    assert all("If-None-Match" not in r.headers for r in server.requests)


async def test_pages_of_the_link_header_are_followed(running):
    app = web.Application()
    seen = []

    async def page(request):
        n = int(request.query.get("page", "1"))
        seen.append(n)
        headers = {"Link": f'</items?page={n + 1}>; rel="next"'} if n < 3 else {}
        return web.json_response({"items": [f"{n}a", f"{n}b"]}, headers=headers)

    app.router.add_get("/items", page)
    async with serve(app) as base:
        config = {"pagination": "link", "response": "json", "items_path": "items"}
        async with running(once(base + "/items", **config)) as rig:
            assert await wait_until(lambda: len(rig.sink.events) == 6, 5)
            assert await wait_until(lambda: rig.source.exhausted(), 5)
    assert rig.sink.events == ["1a", "1b", "2a", "2b", "3a", "3b"]
    assert [c["http_page"] for c in rig.sink.contexts] == [0, 0, 1, 1, 2, 2]
    assert seen == [1, 2, 3]
    assert rig.source.pages == 3


async def test_a_json_cursor_is_followed(running):
    app = web.Application()
    seen = []

    async def page(request):
        cursor = request.query.get("after")
        seen.append((cursor, request.query.get("kind")))
        following = {None: "c1", "c1": "c2", "c2": None}[cursor]
        return web.json_response({"data": {"rows": [cursor or "first"]}, "next": following})

    app.router.add_get("/rows", page)
    async with serve(app) as base:
        config = {
            "pagination": "cursor",
            "cursor_path": "next",
            "cursor_param": "after",
            "response": "json",
            "items_path": "data.rows",
            "params": {"kind": "x"},
        }
        async with running(once(base + "/rows", **config)) as rig:
            assert await wait_until(lambda: rig.source.exhausted(), 5)
    assert rig.sink.events == ["first", "c1", "c2"]
    assert seen == [(None, "x"), ("c1", "x"), ("c2", "x")]


async def test_max_pages_ends_a_cycle(running, caplog):
    app = web.Application()

    async def endless(request):
        n = int(request.query.get("p", "0"))
        return web.json_response([n], headers={"Link": f'</e?p={n + 1}>; rel="next"'})

    app.router.add_get("/e", endless)
    async with serve(app) as base:
        config = {"pagination": "link", "response": "json", "max_pages": 4}
        async with running(once(base + "/e", **config)) as rig:
            assert await wait_until(lambda: rig.source.exhausted(), 5)
    assert rig.sink.events == [[0], [1], [2], [3]]
    assert "max_pages=4" in caplog.text


@pytest.mark.parametrize(
    ("config", "header", "value"),
    [
        (
            {"auth": "basic", "username": "u", "password": "p"},
            "Authorization",
            "Basic " + base64.b64encode(b"u:p").decode(),
        ),
        ({"auth": "bearer", "token": "tok"}, "Authorization", "Bearer tok"),
        ({"auth": "header", "auth_name": "X-API-Key", "token": "k"}, "X-API-Key", "k"),
    ],
)
async def test_credentials_go_in_headers(running, config, header, value):
    server = Server()
    async with serve(server.app) as base, running(once(base + "/data", **config)) as rig:
        assert await wait_until(lambda: len(rig.sink.events) == 1, 5)
    assert server.requests[0].headers[header] == value


async def test_a_query_token_is_sent_but_never_shown(running, caplog):
    server = Server()
    server.reply = lambda r: web.Response(status=500)
    config = {
        "auth": "query",
        "auth_name": "appid",
        "token": "SECRET",
        "request_retries": 1,
        "request_retry_delay": 0.01,
        "params": {"q": "London"},
    }
    async with serve(server.app) as base:
        async with running(once(base + "/data", **config)) as rig:
            assert await wait_until(lambda: len(server.requests) == 2, 5)
            assert await wait_until(lambda: rig.pipeline.is_error(), 5)
        server.reply = lambda r: web.json_response({})
        async with running(once(base + "/data", **config)) as rig:
            assert await wait_until(lambda: len(rig.sink.events) == 1, 5)
    assert server.requests[0].query["appid"] == "SECRET"
    assert server.requests[0].query["q"] == "London"
    assert rig.sink.contexts[0]["http_url"] == base + "/data?q=London"
    assert "SECRET" not in caplog.text
    assert "SECRET" not in repr(rig.source.Config)


async def test_transient_failures_are_retried_within_the_cycle(running):
    server = Server()
    answers = iter([503, 429, 200])

    def reply(request):
        status = next(answers)
        if status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, headers={"Retry-After": "0"})

    server.reply = reply
    config = {"request_retry_delay": 0.01, "response": "json"}
    async with serve(server.app) as base, running(once(base + "/data", **config)) as rig:
        assert await wait_until(lambda: rig.sink.events == [{"ok": True}], 5)
    assert rig.source.retried == 2
    assert len(server.requests) == 3


async def test_a_4xx_fails_the_cycle_without_retrying_and_it_is_tried_at_the_next_trigger(
    running,
):
    server = Server()
    server.reply = lambda r: web.Response(status=404, text="no such thing")
    async with serve(server.app) as base, running(poller(base + "/data", retry_delay=0.01)) as rig:
        assert await wait_until(lambda: rig.source.cycles_failed >= 3, 5)
        assert not rig.pipeline.is_error()
        assert rig.source.retried == 0
        error = rig.source.counters.last_error
        assert "answered 404" in error and "/data" in error


async def test_polling_across_server_outages_never_ends_the_run(running):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data"
    config = {"request_retries": 0, "retry_delay": 0.01, "retry_delay_max": 0.05, "timeout": 2}
    app = pump.Application(args=[])  # as `pump run`: it ends only when asked to
    pipeline = pump.Pipeline(app, "poll")
    from pump.testing import CollectingSink

    sink = CollectingSink(app, pipeline, "sink")
    pipeline.build(poller(url, **config)(app, pipeline), sink)
    app.add_pipeline(pipeline)
    run = asyncio.create_task(app.main())
    source = pipeline.Sources[0]
    assert await wait_until(lambda: source.cycles_failed >= 3, 5)  # nothing listens yet
    server = Server()
    async with serve(server.app, port=port):
        assert await wait_until(lambda: len(sink.events) >= 2, 5)
    failed = source.cycles_failed
    assert await wait_until(lambda: source.cycles_failed >= failed + 3, 5)  # down again
    async with serve(server.app, port=port):
        got = len(sink.events)
        assert await wait_until(lambda: len(sink.events) >= got + 2, 5)
    assert not run.done()
    assert not pipeline.is_error()
    app.request_stop()
    assert await asyncio.wait_for(run, 10) == 0


async def test_on_cycle_error_stop_stops_the_pipeline(running):
    server = Server()
    server.reply = lambda r: web.Response(status=400)
    config = {"on_cycle_error": "stop"}
    async with serve(server.app) as base, running(poller(base + "/data", **config)) as rig:
        assert await wait_until(lambda: rig.pipeline.is_error(), 5)
        assert "answered 400" in str(rig.pipeline.error.error)


async def test_a_response_that_is_not_json_goes_to_the_error_policy(running):
    server = Server()
    server.reply = lambda r: web.Response(text="<html>oops</html>")
    async with serve(server.app) as base:
        make = once(base + "/data", response="json")
        async with running(make, {"on_error": "skip"}) as rig:
            assert await wait_until(lambda: rig.pipeline.counters.errors == 1, 5)
            assert rig.sink.events == []
            assert "is not JSON" in str(rig.pipeline.errors[-1].error)
        make = once(base + "/data", response="json", items_path="rows")
        server.reply = lambda r: web.json_response({"rows": {"not": "a list"}})
        async with running(make, {"on_error": "skip"}) as rig:
            assert await wait_until(lambda: rig.pipeline.counters.errors == 1, 5)
            assert "items_path 'rows'" in str(rig.pipeline.errors[-1].error)


async def test_a_response_above_the_limit_fails_the_cycle(running):
    server = Server()
    server.reply = lambda r: web.Response(body=b"x" * 5000)
    async with serve(server.app) as base:
        make = poller(base + "/data", max_response_size=1000, retry_delay=0.01)
        async with running(make) as rig:
            assert await wait_until(lambda: rig.source.cycles_failed >= 1, 5)
    assert "max_response_size=1000" in rig.source.counters.last_error
    assert rig.sink.events == []


async def test_a_post_with_a_json_body(running):
    server = Server()
    bodies = []

    async def reply_later(request):
        bodies.append((request.method, request.content_type, await request.json()))
        return web.json_response({"ok": 1})

    server.app = web.Application()
    server.app.router.add_post("/data", reply_later)
    async with serve(server.app) as base:
        make = once(base + "/data", method="POST", json_body={"query": "q"})
        async with running(make) as rig:
            assert await wait_until(lambda: len(rig.sink.events) == 1, 5)
    assert bodies == [("POST", "application/json", {"query": "q"})]


@pytest.mark.parametrize(
    ("config", "keys"),
    [
        ({"url": "ftp://x/"}, ["url"]),
        ({"items_path": "a"}, ["items_path"]),
        ({"pagination": "cursor"}, ["cursor_path"]),
        ({"auth": "bearer"}, ["token"]),
        ({"auth": "header", "token": "t"}, ["auth_name"]),
        ({"body": "x", "json_body": {}}, ["json_body"]),
    ],
)
def test_bad_config_names_the_key(config, keys):
    app = pump.Application(args=[])
    with pytest.raises(pump.ConfigError) as error:
        HTTPClientSource(app, pump.Pipeline(app, "p"), config={"url": "http://x/", **config})
    for key in keys:
        assert key in str(error.value)


def test_the_token_is_never_shown():
    app = pump.Application(args=[])
    source = HTTPClientSource(
        app, pump.Pipeline(app, "p"), config={"url": "http://x/", "auth": "bearer", "token": "T0K"}
    )
    assert "T0K" not in repr(source.Config)
    assert "T0K" not in str(source.Config.masked())
    logging.getLogger(__name__).info("%s", source.Config)
