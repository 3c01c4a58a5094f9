"""HTTPSink against a local aiohttp server: bodies, URLs, batches, refusals and retries."""

from __future__ import annotations

import datetime
import time
from email.utils import format_datetime

import orjson
import pytest
from aiohttp import web

import pump
from pump.testing import BatchRecord, CollectingSink, HarnessSource, wait_until
from pump_http import HTTPPermanentWriteError, HTTPSink
from pump_http.testing import serve


class Receiver:
    """Records every request; `statuses` (consumed one per request) decides the answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, bytes]] = []
        self.statuses: list[int] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        if status < 300:
            self.requests.append((request.method, request.raw_path, request.content_type, body))
        headers = {"Retry-After": "0"} if status == 429 else None
        return web.Response(status=status, text=f"status {status}", headers=headers)


class Result:
    """What a delivery did: the batches' fates, the sink's counters, the dead letters."""

    def __init__(self, source: HarnessSource, sink: HTTPSink, dead: CollectingSink) -> None:
        self.acknowledged = [
            p for r in source.records if r.status == BatchRecord.ACKNOWLEDGED for p in r.positions
        ]
        self.counters = sink.counters.snapshot()
        self.dead_letters = dead.events


def sink_pipeline(url, pipeline_config=None, **config):
    return url, pipeline_config or {}, config


async def run(spec, events, batch_size=1):
    """Feed `events` to the sink, wait until every batch is settled, stop; the Result."""
    url, pipeline_config, config = spec
    app = pump.Application(exit_when_finished=False, args=[])
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.01, **pipeline_config})
    source = HarnessSource(app, pipeline, batch_size=batch_size)
    sink = HTTPSink(app, pipeline, "http", config={"url": url, **config})
    dead = CollectingSink(app, pipeline, "dead")
    pipeline.set_dead_letter(dead)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    source.feed(events)
    await app.start()
    try:
        settled = await wait_until(
            lambda: all(r.status != BatchRecord.PENDING for r in source.records), 10
        )
        assert settled, "not every batch was acknowledged or rejected"
    finally:
        await app.stop(timeout=1)
    return Result(source, sink, dead)


async def test_each_event_is_a_request_of_its_own():
    receiver = Receiver()
    async with serve(receiver.app) as base:
        result = await run(
            sink_pipeline(base + "/items/{id}", method="PUT"),
            [({}, {"id": 1, "a": "x"}), ({}, {"id": "a b/c"})],
        )
    assert result.acknowledged == [0, 1]
    by_path = {path: (method, ctype, body) for method, path, ctype, body in receiver.requests}
    assert by_path["/items/1"] == ("PUT", "application/json", b'{"id":1,"a":"x"}')
    assert by_path["/items/a%20b%2Fc"][2] == b'{"id":"a b/c"}'


async def test_str_and_bytes_events_keep_their_content_types():
    receiver = Receiver()
    async with serve(receiver.app) as base:
        await run(sink_pipeline(base + "/in"), [({}, "text"), ({}, b"\x00raw")])
    assert sorted((ctype, body) for _, _, ctype, body in receiver.requests) == [
        ("application/octet-stream", b"\x00raw"),
        ("text/plain", b"text"),
    ]


async def test_a_batch_goes_as_one_json_array_per_url():
    receiver = Receiver()
    events = [({}, {"t": "a", "n": i}) for i in range(5)] + [({}, {"t": "b", "n": 9})]
    async with serve(receiver.app) as base:
        result = await run(
            sink_pipeline(base + "/bulk/{t}", body="json_array", max_batch=3), events, 6
        )
    assert len(result.acknowledged) == 6
    bodies = {(path, body) for _, path, _, body in receiver.requests}
    assert bodies == {
        ("/bulk/a", b'[{"t":"a","n":0},{"t":"a","n":1},{"t":"a","n":2}]'),
        ("/bulk/a", b'[{"t":"a","n":3},{"t":"a","n":4}]'),
        ("/bulk/b", b'[{"t":"b","n":9}]'),
    }


async def test_ndjson_batches_and_serialized_events():
    receiver = Receiver()
    events = [({}, {"n": 1}), ({}, b'{"n":2}\n'), ({}, '{"n":3}')]
    async with serve(receiver.app) as base:
        await run(sink_pipeline(base + "/nd", body="ndjson"), events, 3)
    ((method, _, ctype, body),) = receiver.requests
    assert (method, ctype) == ("POST", "application/x-ndjson")
    assert body == b'{"n":1}\n{"n":2}\n{"n":3}\n'


async def test_the_context_key_overrides_the_url():
    receiver = Receiver()
    async with serve(receiver.app) as base:
        await run(
            sink_pipeline(base + "/default"),
            [({"http_sink_url": base + "/special"}, {"n": 1}), ({}, {"n": 2})],
        )
    assert sorted(path for _, path, _, _ in receiver.requests) == ["/default", "/special"]


async def test_429_and_5xx_are_retried_until_written():
    receiver = Receiver()
    receiver.statuses = [503, 429, 500]
    async with serve(receiver.app) as base:
        result = await run(sink_pipeline(base + "/r"), [({}, {"n": 1})])
    assert result.acknowledged == [0]
    assert [body for *_, body in receiver.requests] == [b'{"n":1}']
    assert result.counters["requests"] == 4


async def test_a_retry_after_http_date_is_waited_out():
    # Retry-After may be an HTTP date instead of seconds (RFC 9110): 2 s ahead, whole seconds
    moments: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        moments.append(time.monotonic())
        if len(moments) > 1:
            return web.Response(status=200)
        when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
        return web.Response(status=503, headers={"Retry-After": format_datetime(when, True)})

    app = web.Application()
    app.router.add_post("/r", handle)
    async with serve(app) as base:
        result = await run(sink_pipeline(base + "/r"), [({}, {"n": 1})])
    assert result.acknowledged == [0]
    assert len(moments) == 2
    # the date has no fraction of a second: 1..2 s from the answer (retry_backoff is 0.01 s)
    assert moments[1] - moments[0] >= 0.9


async def test_a_4xx_goes_to_the_error_policy_at_once():
    receiver = Receiver()
    receiver.statuses = [200, 422]  # the second request is refused
    async with serve(receiver.app) as base:
        make = sink_pipeline(base + "/x", {"on_error": "dead_letter", "sink_retries": 5})
        result = await run(make, [({}, {"n": 1}), ({}, {"n": 2})])
    assert len(result.acknowledged) == 2
    dead = result.dead_letters
    assert len(dead) == 1
    assert "answered 422" in dead[0]["error"]
    assert result.counters["refused"] == 1
    assert result.counters["requests"] == 2  # not retried


async def test_a_missing_url_field_is_a_permanent_failure():
    receiver = Receiver()
    async with serve(receiver.app) as base:
        make = sink_pipeline(base + "/items/{id}", {"on_error": "dead_letter"})
        result = await run(make, [({}, {"no_id": 1}), ({}, {"id": 2})])
    assert [path for _, path, _, _ in receiver.requests] == ["/items/2"]
    (dead,) = result.dead_letters
    assert "no field 'id'" in dead["error"]


async def test_an_unreachable_server_is_retried_then_handled():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    make = sink_pipeline(
        f"http://127.0.0.1:{port}/x", {"on_error": "dead_letter", "sink_retries": 2}
    )
    result = await run(make, [({}, {"n": 1})])
    (dead,) = result.dead_letters
    assert "failed" in dead["error"] and f"127.0.0.1:{port}" in dead["error"]


def test_permanent_errors_are_permanent():
    assert issubclass(HTTPPermanentWriteError, pump.PermanentWriteError)


@pytest.mark.parametrize(
    ("config", "key"),
    [({"url": "ftp://x"}, "url"), ({"url": "http://x/{"}, "url"), ({"max_batch": 0}, "max_batch")],
)
def test_bad_config_names_the_key(config, key):
    app = pump.Application(args=[])
    with pytest.raises(pump.ConfigError) as error:
        HTTPSink(app, pump.Pipeline(app, "p"), config={"url": "http://x/", **config})
    assert key in str(error.value)


def test_orjson_is_what_the_body_is_made_with():
    assert orjson.dumps({"a": 1}) == b'{"a":1}'
