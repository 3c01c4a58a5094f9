"""pump-http's components built from YAML: a webhook forwarding to an HTTP sink, a WebSocket
relay, and the keys each type refuses."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import WSMsgType, web

import pump
from pump.declarative import build
from pump.testing import wait_until
from pump_http import HTTPServerSource, HTTPSink, WebSocketServerSource, WebSocketSink
from pump_http.testing import serve


async def test_a_webhook_answers_once_the_http_sink_forwarded_the_events(http):
    received: list[tuple[str, bytes]] = []

    async def downstream(request: web.Request) -> web.Response:
        received.append((request.path, await request.read()))
        return web.Response(status=204)

    api = web.Application()
    api.router.add_post("/orders/{id}", downstream)
    async with serve(api) as base:
        app = build(
            yaml.safe_load(
                f"""
                pipelines:
                  forward:
                    source: {{type: http.server, port: 0, path: /in, token: t0k}}
                    sink: {{type: http, url: "{base}/orders/{{id}}"}}
                """
            ),
            exit_when_finished=False,
        )
        await app.start()
        try:
            pipeline = app.locate_pipeline("forward")
            source, sink = pipeline.Sources[0], pipeline.sink
            assert isinstance(source, HTTPServerSource) and isinstance(sink, HTTPSink)
            response = await http.post(
                source.url,
                data=b'{"id": 1, "sum": 10}\n{"id": 2, "sum": 20}\n',
                headers={"Content-Type": "application/x-ndjson", "Authorization": "Bearer t0k"},
            )
            assert (response.status, await response.json()) == (200, {"events": 2})
            # answered only after both were forwarded
            assert sorted(received) == [
                ("/orders/1", b'{"id":1,"sum":10}'),
                ("/orders/2", b'{"id":2,"sum":20}'),
            ]
        finally:
            await app.stop()


async def test_a_websocket_relay_from_yaml(http):
    relayed: list[str] = []

    async def inbox(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                relayed.append(message.data)
        return ws

    target = web.Application()
    target.router.add_get("/in", inbox)
    async with serve(target) as base:
        url = "ws" + base.removeprefix("http") + "/in"
        app = build(
            yaml.safe_load(
                f"""
                pipelines:
                  relay:
                    source: {{type: websocket.server, port: 0, message: json}}
                    processors: [{{type: json.serialize}}]
                    sink: {{type: websocket, message: text, url: "{url}"}}
                """
            ),
            exit_when_finished=False,
        )
        await app.start()
        try:
            pipeline = app.locate_pipeline("relay")
            source = pipeline.Sources[0]
            assert isinstance(source, WebSocketServerSource)
            assert isinstance(pipeline.sink, WebSocketSink)
            async with http.ws_connect(source.url) as ws:
                for n in range(3):
                    await ws.send_str(orjson.dumps({"n": n}).decode())
                assert await wait_until(lambda: len(relayed) == 3, 5)
        finally:
            await app.stop()
    assert [orjson.loads(m) for m in relayed] == [{"n": 0}, {"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("component", "problem"),
    [
        ("{type: http.server, max_body_size: -1}", "max_body_size"),
        ("{type: http.client, url: 'ftp://x', trigger: run_once}", "url"),
        ("{type: websocket.client, url: 'http://x'}", "url"),
        ("{type: http.server, colour: red}", "colour"),
    ],
)
def test_bad_keys_are_named(component, problem):
    data = yaml.safe_load(f"pipelines:\n  p:\n    source: {component}\n    sink: {{type: null}}\n")
    with pytest.raises(pump.ConfigError) as error:
        build(data)
    assert problem in str(error.value)


def test_a_secret_from_the_environment_is_never_shown():
    data = yaml.safe_load(
        "pipelines:\n  p:\n    source: {type: http.server, token: '${HOOK_TOKEN}'}\n"
        "    sink: {type: null}\n"
    )
    app = build(data, environ={"HOOK_TOKEN": "very-secret"})
    source = app.locate_pipeline("p").Sources[0]
    assert source.Config.token.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(source.Config)


def test_the_session_types_are_aiohttp_ones():
    assert aiohttp.ClientSession
