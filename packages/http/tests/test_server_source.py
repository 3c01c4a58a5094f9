"""HTTPServerSource against real clients (aiohttp, curl): what each answer means."""

from __future__ import annotations

import asyncio
import subprocess

import orjson
import pytest

import pump
from pump.testing import wait_until
from pump_http import HTTPServerSource
from pump_http.auth import sign


def webhook(**config):
    def make(app, pipeline):
        return HTTPServerSource(app, pipeline, "webhook", config={"port": 0, **config})

    return make


async def test_a_json_document_is_one_event_an_array_or_ndjson_many(running, http):
    async with running(webhook(path="/hook")) as rig:
        url = rig.source.url
        assert url.endswith("/hook")
        r = await http.post(url, json={"a": 1})
        assert (r.status, await r.json()) == (200, {"events": 1})
        r = await http.post(url, json=[{"b": 1}, {"b": 2}])
        assert (r.status, await r.json()) == (200, {"events": 2})
        ndjson = b'{"c": 1}\n{"c": 2}\r\n\n{"c": 3}\n'
        r = await http.post(url, data=ndjson, headers={"Content-Type": "application/x-ndjson"})
        assert (r.status, await r.json()) == (200, {"events": 3})
        r = await http.post(url, data=b"\x00raw", headers={"Content-Type": "application/x-bin"})
        assert r.status == 200
        r = await http.put(url + "?x=1", data="hello", headers={"Content-Type": "text/plain"})
        assert r.status == 200
        events = rig.sink.events
        assert events == [
            {"a": 1},
            {"b": 1},
            {"b": 2},
            {"c": 1},
            {"c": 2},
            {"c": 3},
            b"\x00raw",
            "hello",
        ]
        context = rig.sink.contexts[-1]
        assert context["http_method"] == "PUT"
        assert context["http_path"] == "/hook"
        assert context["http_query"] == "x=1"
        assert context["http_remote"] == "127.0.0.1"
        assert context["http_headers"] == {}


async def test_200_comes_only_after_the_sink_wrote(running, http):
    async with running(webhook()) as rig:
        rig.sink.block()
        answer = asyncio.create_task(http.post(rig.source.url, json=[{"n": 1}, {"n": 2}]))
        assert await wait_until(lambda: rig.pipeline.in_flight == 2, 5)
        await asyncio.sleep(0.2)
        assert not answer.done(), "answered before the sink wrote"
        assert rig.sink.events == []
        rig.sink.release()
        response = await answer
        assert response.status == 200
        assert rig.sink.events == [{"n": 1}, {"n": 2}]  # written before the answer


async def test_a_failing_sink_gets_a_5xx_so_the_sender_retries(running, http):
    config = {"sink_retries": 1, "on_error": "stop"}
    async with running(webhook(), config) as rig:
        rig.sink.fail_with = OSError("disk gone")
        response = await http.post(rig.source.url, json={"n": 1})
        assert response.status == 500
        assert "failed" in (await response.json())["error"]
        # the pipeline stopped on it: later requests are refused, to be sent again
        response = await http.post(rig.source.url, json={"n": 2})
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert rig.source.failed_responses == 2


async def test_the_context_path_is_the_requests_own_for_a_path_with_variables(running, http):
    async with running(webhook(path="/hooks/{name}")) as rig:
        base = rig.source.url.split("/hooks/")[0]
        assert (await http.post(base + "/hooks/github", json={"n": 1})).status == 200
        assert (await http.post(base + "/hooks/git%20lab", json={"n": 2})).status == 200
        assert [c["http_path"] for c in rig.sink.contexts] == ["/hooks/github", "/hooks/git lab"]


async def test_a_plain_path_with_an_encoded_character_is_the_decoded_path(running, http):
    async with running(webhook(path="/web hook")) as rig:
        base = rig.source.url.split("/web hook")[0]
        assert (await http.post(base + "/web%20hook", json={"n": 1})).status == 200
        assert rig.sink.contexts[0]["http_path"] == "/web hook"


async def test_each_request_is_read_in_the_format_of_its_own_content_type(running, http):
    # the format is remembered per Content-Type value: alternate them, charsets included
    async with running(webhook()) as rig:
        latin = {"Content-Type": "text/plain; charset=latin-1"}
        utf8 = {"Content-Type": "text/plain"}
        ndjson = {"Content-Type": "application/x-ndjson"}
        for _ in range(2):
            assert (
                await http.post(rig.source.url, data="café".encode("latin-1"), headers=latin)
            ).status == 200
            assert (
                await http.post(rig.source.url, data="café".encode(), headers=utf8)
            ).status == 200
            assert (
                await http.post(rig.source.url, data=b'{"a":1}\n{"a":2}\n', headers=ndjson)
            ).status == 200
            assert (await http.post(rig.source.url, data=b"\x00", headers={})).status == 200
        assert rig.sink.events == ["café", "café", {"a": 1}, {"a": 2}, b"\x00"] * 2


async def test_a_full_pipeline_answers_429_with_retry_after(running, http):
    async with running(webhook(retry_after=7), {"max_in_flight": 2}) as rig:
        rig.sink.block()
        first = asyncio.create_task(http.post(rig.source.url, json=[{"n": 1}, {"n": 2}]))
        assert await wait_until(lambda: not rig.pipeline.is_ready(), 5)
        response = await http.post(rig.source.url, json={"n": 3})
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"
        assert rig.source.busy_responses == 1
        rig.sink.release()
        assert (await first).status == 200
        response = await http.post(rig.source.url, json={"n": 3})
        assert response.status == 200
        assert [e["n"] for e in rig.sink.events] == [1, 2, 3]


async def test_a_body_above_the_limit_gets_413(running, http):
    async with running(webhook(max_body_size=100)) as rig:
        big = orjson.dumps([{"x": "y" * 50}] * 3)
        response = await http.post(rig.source.url, data=big)
        assert response.status == 413

        async def chunks():  # no Content-Length: the limit holds while reading
            for _ in range(10):
                yield b"x" * 50

        response = await http.post(rig.source.url, data=chunks())
        assert response.status == 413
        # chunked in one write: the whole body is there when the request is handled
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.source.port)
        chunk = b"x" * 150
        writer.write(
            b"POST / HTTP/1.1\r\nHost: pump\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        )
        assert (await reader.readline()).startswith(b"HTTP/1.1 413")
        writer.close()
        response = await http.post(rig.source.url, json={"small": 1})
        assert response.status == 200
        assert rig.sink.events == [{"small": 1}]
        assert rig.source.bad_requests == 3


async def test_a_bad_body_gets_400_naming_the_line(running, http):
    async with running(webhook()) as rig:
        ndjson = b'{"ok": 1}\n{"broken": \n'
        response = await http.post(
            rig.source.url, data=ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
        assert response.status == 400
        assert "line 2" in (await response.json())["error"]
        response = await http.post(
            rig.source.url, data=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        assert rig.sink.events == []
        assert rig.pipeline.in_flight == 0


async def test_without_the_token_401(running, http):
    async with running(webhook(token="s3cret")) as rig:
        response = await http.post(rig.source.url, json={"n": 1})
        assert response.status == 401
        response = await http.post(
            rig.source.url, json={"n": 1}, headers={"Authorization": "Bearer wrong"}
        )
        assert response.status == 401
        response = await http.post(
            rig.source.url, json={"n": 2}, headers={"Authorization": "Bearer s3cret"}
        )
        assert response.status == 200
        assert rig.sink.events == [{"n": 2}]
        assert rig.sink.contexts[0]["http_headers"] == {}
        assert rig.source.unauthorized == 2


async def test_a_custom_token_header_and_chosen_headers_in_the_context(running, http):
    config = {"token_header": "X-Gitlab-Token", "context_headers": ["X-Gitlab-Token", "X-Event"]}
    async with running(webhook(token="t", **config)) as rig:
        response = await http.post(rig.source.url, json={}, headers={"X-Gitlab-Token": "no"})
        assert response.status == 401
        headers = {"X-Gitlab-Token": "t", "X-Event": "push", "X-Other": "1"}
        response = await http.post(rig.source.url, json={}, headers=headers)
        assert response.status == 200
        # the token header is never copied, even when asked for
        assert rig.sink.contexts[0]["http_headers"] == {"X-Event": "push"}


async def test_a_github_style_signature_is_checked(running, http):
    async with running(webhook(hmac_secret="hush")) as rig:
        body = b'{"action": "opened"}'
        good = {"X-Hub-Signature-256": sign("hush", body), "Content-Type": "application/json"}
        response = await http.post(rig.source.url, data=body, headers=good)
        assert response.status == 200
        bad = {**good, "X-Hub-Signature-256": sign("other", body)}
        response = await http.post(rig.source.url, data=body, headers=bad)
        assert response.status == 401
        tampered = body.replace(b"opened", b"closed")
        response = await http.post(rig.source.url, data=tampered, headers=good)
        assert response.status == 401
        assert rig.sink.events == [{"action": "opened"}]


async def test_events_not_done_in_time_get_503(running, http):
    async with running(webhook(response_timeout=0.2, retry_after=3)) as rig:
        rig.sink.block()
        response = await http.post(rig.source.url, json={"n": 1})
        assert response.status == 503
        assert response.headers["Retry-After"] == "3"
        rig.sink.release()
        assert await wait_until(lambda: rig.sink.events == [{"n": 1}], 5)


async def test_accepted_answers_202_at_once(running, http):
    async with running(webhook(respond="accepted")) as rig:
        rig.sink.block()
        response = await http.post(rig.source.url, json={"n": 1})
        assert response.status == 202
        assert rig.sink.events == []


async def test_unknown_paths_and_methods_are_refused(running, http):
    async with running(webhook(path="/hook")) as rig:
        base = rig.source.url.removesuffix("/hook")
        assert (await http.post(base + "/other", json={})).status == 404
        assert (await http.get(rig.source.url)).status == 405
        assert rig.sink.events == []


async def test_listens_on_loopback_by_default(running):
    async with running(webhook()) as rig:
        assert rig.source.Config.host == "127.0.0.1"
        assert rig.source.url.startswith("http://127.0.0.1:")


async def test_curl_posts_ndjson_with_a_token(running, tool):
    curl = tool("curl")
    async with running(webhook(token="abc")) as rig:
        args = [
            curl,
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            rig.source.url,
            "-H",
            "Content-Type: application/x-ndjson",
            "-H",
            "Authorization: Bearer abc",
            "--data-binary",
            '{"n": 1}\n{"n": 2}\n',
        ]
        done = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True)
        body, status = done.stdout.rsplit("\n", 1)
        assert status == "200", done
        assert orjson.loads(body) == {"events": 2}
        assert rig.sink.events == [{"n": 1}, {"n": 2}]


async def raw_http(argv: list[str], request: bytes) -> bytes:
    """Send `request` through a command-line client; the status line it prints back.

    The client's input stays open until the answer came: both tools may quit on the end of
    their input (or the server's close) before printing what arrived.
    """
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request)
    await process.stdin.drain()
    try:
        return await asyncio.wait_for(process.stdout.readline(), 10)
    finally:
        process.kill()
        await process.wait()


async def test_a_raw_request_from_nc_and_an_oversized_one_from_socat(running, tool):
    nc, socat = tool("nc"), tool("socat")
    async with running(webhook(max_body_size=64)) as rig:
        port = str(rig.source.port)
        body = b'{"n": 1}\n{"n": 2}\n'
        request = (
            b"POST / HTTP/1.1\r\nHost: pump\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert (await raw_http([nc, "127.0.0.1", port], request)).startswith(b"HTTP/1.1 200")
        assert rig.sink.events == [{"n": 1}, {"n": 2}]
        # chunked, without a Content-Length: refused once more than the limit was read
        chunk = b"x" * 100
        request = (
            b"POST / HTTP/1.1\r\nHost: pump\r\nTransfer-Encoding: chunked\r\n"
            b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        )
        answer = await raw_http([socat, "-", f"TCP:127.0.0.1:{port}"], request)
        assert answer.startswith(b"HTTP/1.1 413")
        assert rig.sink.events == [{"n": 1}, {"n": 2}]


async def test_stopping_answers_what_is_in_flight(running, http):
    async with running(webhook(), {"drain_timeout": 0.3}) as rig:
        rig.sink.block()
        answer = asyncio.create_task(http.post(rig.source.url, json={"n": 1}))
        assert await wait_until(lambda: rig.pipeline.in_flight == 1, 5)
        stopping = asyncio.create_task(rig.app.stop(timeout=0.3))
        response = await answer
        assert response.status == 503  # not done: the sender sends it again
        await stopping


def test_bad_config_names_the_key():
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError) as error:
        HTTPServerSource(app, pipeline, config={"path": "hook", "max_body_size": 0})
    text = str(error.value)
    assert "path" in text and "max_body_size" in text


async def test_listening_beyond_loopback_without_a_token_is_warned_about(running, caplog):
    async with running(webhook(host="0.0.0.0")) as rig:
        assert rig.source.url.startswith("http://127.0.0.1:")
    assert "without a token or signature" in caplog.text
    caplog.clear()
    async with running(webhook(host="0.0.0.0", token="t")):
        pass
    async with running(webhook()):
        pass
    assert "without a token" not in caplog.text
