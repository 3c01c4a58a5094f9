"""Dead letters of any event are writable; permanent sink failures are not retried; a failing
dead-letter sink stops the pipeline; a stop does not wait out a retry loop."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import logging
import time

import orjson
import pytest

import pump
from pump.common import JsonParser
from pump.deadletter import dead_letter_record, original_event
from pump.errors import DeadLetterError


class StrictJsonSink(pump.Sink):
    """Writes events as JSON the strict way a file or broker sink does (orjson, no fallback)."""

    def __init__(self, app, pipeline, id="dead"):
        super().__init__(app, pipeline, id=id)
        self.lines: list[bytes] = []

    def process(self, context, event):
        try:
            self.lines.append(orjson.dumps(event))
        except TypeError as exc:
            raise pump.PermanentWriteError(f"{self.location()}: cannot serialize: {exc}") from exc


class Opaque:
    def __str__(self) -> str:
        return "<opaque thing>"


@pytest.mark.parametrize(
    ("event", "shown", "encoding"),
    [
        (b'{"not json', '{"not json', "utf-8"),
        (b"\xff\xfe\x00binary", "//4AYmluYXJ5", "base64"),
        (bytearray(b"abc"), "abc", "utf-8"),
        ("text", "text", None),
        ({"a": [1, 2.5, None, True]}, {"a": [1, 2.5, None, True]}, None),
        (Opaque(), "<opaque thing>", "str"),
        (decimal.Decimal("1.5"), "1.5", "str"),
    ],
)
def test_a_dead_letter_record_of_any_event_is_json_and_gives_the_event_back(event, shown, encoding):
    context = {
        "kafka_topic": "in",
        "kafka_offset": 7,
        "kafka_key": b"\xffk",
        "headers": (("h", b"v"),),
    }
    record = dead_letter_record("p", "parse", ValueError("bad input"), event, context)
    assert orjson.loads(orjson.dumps(record)) == record  # plain JSON, nothing lost on the way
    assert record["event"] == shown and record["event_encoding"] == encoding
    assert record["event_type"] == type(event).__name__
    assert record["pipeline"] == "p" and record["component"] == "parse"
    assert record["error"] == "ValueError: bad input"
    assert record["context"] == {
        "kafka_topic": "in",
        "kafka_offset": 7,
        "kafka_key": {"base64": "/2s="},
        "headers": [["h", "v"]],
    }
    assert abs(record["timestamp"] - time.time()) < 5
    if isinstance(event, (bytes, bytearray)):
        assert original_event(record) == event


def test_nested_values_json_cannot_hold_are_converted():
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    event = {"raw": b"\xff", "at": when, "tags": {"x"}, 3: float("nan"), "deep": (b"ok",)}
    record = dead_letter_record("p", "c", KeyError("k"), event, None)
    assert record["event"] == {
        "raw": {"base64": "/w=="},
        "at": "2024-05-01T12:00:00+00:00",
        "tags": ["x"],
        "3": None,
        "deep": ["ok"],
    }
    assert record["event_encoding"] is None and record["context"] == {}
    orjson.dumps(record)


class Table:
    """An event type of a package's own: rows, not JSON-serialisable as it is."""

    def __init__(self, rows):
        self.rows = rows


class WideTable(Table):
    pass


@pytest.fixture
def table_type():
    from pump import deadletter

    deadletter.register_event_type(
        Table, "table", lambda t: t.rows, lambda rows: Table([dict(r) for r in rows])
    )
    yield
    deadletter._ENCODERS.pop(Table, None)
    deadletter._DECODERS.pop("table", None)


def test_a_package_registers_how_dead_letters_hold_its_event_type(table_type):
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    record = dead_letter_record("p", "c", ValueError("x"), WideTable([{"a": 1, "at": when}]), {})
    assert record["event"] == [{"a": 1, "at": "2024-05-01T12:00:00+00:00"}]  # then json_safe
    assert record["event_encoding"] == "table" and record["event_type"] == "WideTable"
    back = original_event(orjson.loads(orjson.dumps(record)))
    assert isinstance(back, Table) and back.rows == [{"a": 1, "at": "2024-05-01T12:00:00+00:00"}]
    nested = dead_letter_record("p", "c", ValueError("x"), {"t": Table([{"b": 2}])}, None)
    assert nested["event"] == {"t": [{"b": 2}]} and nested["event_encoding"] is None


def test_the_core_encodings_cannot_be_registered_again():
    from pump import deadletter

    with pytest.raises(ValueError, match="core's own"):
        deadletter.register_event_type(Table, "base64", lambda t: t.rows)


def build(kit, sink, dead=None, config=None, events=None, batch_size=10):
    app = pump.Application()
    pipeline = pump.Pipeline(
        app, "p", config={"on_error": "dead_letter", "retry_backoff": 0.001, **(config or {})}
    )
    source = kit.RecordingSource(
        app,
        pipeline,
        events if events is not None else [{"seq": i} for i in range(6)],
        batch_size=batch_size,
    )
    pipeline.build(source, sink(app, pipeline))
    if dead is not None:
        pipeline.set_dead_letter(dead(app, pipeline))
    app.add_pipeline(pipeline)
    return app, pipeline, source


async def test_a_bytes_event_json_cannot_parse_is_dead_lettered_by_a_strict_json_sink(kit):
    """Issue 9: a non-JSON message after json.parse made the dead-letter write fail forever."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})  # sink_retries: -1
    source = kit.RecordingSource(
        app, pipeline, [b'{"a": 1}', b"not json", b"\xff\xfe", b'{"a": 2}'], per_event_context=True
    )
    out = kit.CollectSink(app, pipeline, id="out")
    pipeline.build(source, JsonParser(app, pipeline, "parse"), out)
    pipeline.set_dead_letter(dead := StrictJsonSink(app, pipeline))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert out.events == [{"a": 1}, {"a": 2}]
    records = [orjson.loads(line) for line in dead.lines]
    assert [(r["event"], r["event_encoding"]) for r in records] == [
        ("not json", "utf-8"),
        ("//4=", "base64"),
    ]
    assert [original_event(r) for r in records] == [b"not json", b"\xff\xfe"]
    assert [r["context"] for r in records] == [{"index": 1}, {"index": 2}]
    assert {r["component"] for r in records} == {"parse"} and records[0]["pipeline"] == "p"
    assert source.acknowledged_count() == 4 and pipeline.metrics()["dead_lettered"] == 2


class PartlyPermanent(pump.Sink):
    """Event 2 can never be written; event 4 fails once (transient); the rest are written."""

    def __init__(self, app, pipeline):
        super().__init__(app, pipeline, id="out")
        self.calls: list[list[int]] = []
        self.written: list[int] = []

    def write(self, events, contexts):
        self.calls.append([e["seq"] for e in events])
        errors = {}
        for i, event in enumerate(events):
            if event["seq"] == 2:
                errors[i] = pump.PermanentWriteError("event 2 is invalid")
            elif event["seq"] == 4 and len(self.calls) == 1:
                errors[i] = ConnectionError("server busy")
            else:
                self.written.append(event["seq"])
        if errors:
            raise pump.PartialWriteError(errors)


async def test_permanent_failures_go_to_the_policy_at_once_and_transient_ones_are_retried(kit):
    sinks = {}

    def sink(app, pipeline):
        sinks["out"] = PartlyPermanent(app, pipeline)
        return sinks["out"]

    app, pipeline, source = build(kit, sink, dead=lambda a, p: kit.CollectSink(a, p, id="dead"))
    assert await kit.run_app(app) == 0
    out = sinks["out"]
    assert out.calls == [[0, 1, 2, 3, 4, 5], [4]]  # event 2 was never written again
    assert sorted(out.written) == [0, 1, 3, 4, 5]
    dead = pipeline.dead_letter
    assert [r["event"] for r in dead.events] == [{"seq": 2}]
    assert dead.events[0]["error"] == "PermanentWriteError: event 2 is invalid"
    assert source.acknowledged == [(0, 6)]
    m = pipeline.metrics()
    assert m["events_out"] == 5 and m["dead_lettered"] == 1 and m["warnings"] == 1


async def test_a_whole_batch_failing_permanently_is_not_retried(kit, caplog):
    calls = []

    class Rejects(pump.Sink):
        def write(self, events, contexts):
            calls.append(len(events))
            raise pump.PermanentWriteError("the server rejects these as invalid")

    app, pipeline, source = build(
        kit, lambda a, p: Rejects(a, p, "out"), config={"on_error": "skip"}
    )
    assert await kit.run_app(app) == 0
    assert calls == [6] and "retry" not in caplog.text
    assert pipeline.metrics()["errors"] == 6 and source.acknowledged == [(0, 6)]


class Poison(pump.Processor):
    def process(self, context, event):
        if event["seq"] == 3:
            raise ValueError("seq 3 is poison")
        return event


async def test_a_dead_letter_sink_failing_permanently_stops_the_pipeline_without_retries(kit):
    calls = []

    class CannotWrite(pump.Sink):
        def process(self, context, event):
            calls.append(event)
            raise pump.PermanentWriteError("cannot serialize")

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(6)])
    pipeline.build(source, Poison(app, pipeline, "poison"), kit.CollectSink(app, pipeline))
    pipeline.set_dead_letter(CannotWrite(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 1
    assert len(calls) == 1
    error = pipeline.error
    assert isinstance(error.error, DeadLetterError) and error.component == "dead"
    message = str(error.error)
    assert (
        "component 'dead'" in message and "'poison'" in message and "cannot be written" in message
    )
    assert "PermanentWriteError: cannot serialize" in message
    assert source.rejected == [(0, 6)] and source.acknowledged == []


class Down(pump.Sink):
    """A sink whose server is down: every write fails, transiently."""

    def __init__(self, app, pipeline, id):
        super().__init__(app, pipeline, id=id)
        self.calls: list = []

    def process(self, context, event):
        self.calls.append(event)
        raise ConnectionError(f"{self.Id} server down")


def with_dead_letter_down(kit, config):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter", **config})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(6)])
    pipeline.build(source, Poison(app, pipeline, "poison"), kit.CollectSink(app, pipeline))
    pipeline.set_dead_letter(dead := Down(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    return app, pipeline, source, dead


async def test_a_dead_letter_sink_failing_transiently_is_retried_a_bounded_number_of_times(
    kit, monkeypatch
):
    monkeypatch.setattr("pump.sinkwriter.DEAD_LETTER_RETRIES", 3)
    # sink_retries -1 retries the main sink forever, but never the dead-letter sink
    app, pipeline, source, dead = with_dead_letter_down(
        kit, {"retry_backoff": 0.001, "retry_backoff_max": 0.002}
    )
    assert await kit.run_app(app) == 1
    assert len(dead.calls) == 4  # the write and 3 retries
    error = pipeline.error.error
    assert isinstance(error, DeadLetterError)
    assert "failed after 3 retries" in str(error) and "dead server down" in str(error)
    assert source.rejected == [(0, 6)]


async def test_with_sink_retries_set_the_dead_letter_sink_uses_them(kit):
    app, pipeline, _source, dead = with_dead_letter_down(
        kit, {"sink_retries": 1, "retry_backoff": 0.001}
    )
    assert await kit.run_app(app) == 1
    assert len(dead.calls) == 2 and "after 1 retries" in str(pipeline.error.error)


async def test_a_stop_request_does_not_wait_out_a_retry_loop(kit, caplog):
    app = pump.Application()
    pipeline = pump.Pipeline(
        app, "p", config={"retry_backoff": 5.0, "retry_backoff_max": 60.0, "drain_timeout": 30.0}
    )
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(6)])
    pipeline.build(source, out := Down(app, pipeline, "out"))
    app.add_pipeline(pipeline)
    caplog.set_level(logging.WARNING)
    main = asyncio.create_task(app.main())
    for _ in range(200):
        if "retry 1 in 5.00s" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert "retry 1 in 5.00s" in caplog.text
    started = time.monotonic()
    app.request_stop()  # what SIGTERM / Ctrl-C do
    code = await asyncio.wait_for(main, 3)
    assert time.monotonic() - started < 2.0
    assert code == 1  # not everything was delivered
    assert len(out.calls) == 12  # the first write and one last attempt, 6 events each
    assert source.rejected == [(0, 6)] and source.acknowledged == []
    assert "gave up writing 6 event(s)" in caplog.text and "delivered again" in caplog.text


async def test_the_dead_letter_sink_ignores_context_keys_meant_for_the_pipelines_sink(kit):
    class Steer(pump.Processor):
        writes_context = True

        def process(self, context, event):
            context["kafka_sink_topic"] = "orders"
            context["amqp_sink_routing_key"] = "orders"
            context["kafka_key"] = b"k1"
            raise ValueError("bad order")

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})
    source = kit.RecordingSource(app, pipeline, [{"seq": 0}], per_event_context=True)
    pipeline.build(source, Steer(app, pipeline, "steer"), kit.CollectSink(app, pipeline))
    pipeline.set_dead_letter(dead := kit.CollectSink(app, pipeline, id="dead"))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert dead.contexts == [{"index": 0, "kafka_key": b"k1"}]
    # the record keeps the whole context, made JSON-safe
    assert dead.events[0]["context"] == {
        "index": 0,
        "kafka_sink_topic": "orders",
        "amqp_sink_routing_key": "orders",
        "kafka_key": "k1",
    }


async def test_the_dead_letters_of_a_batch_are_written_together(kit):
    """Every bad event of a batch goes to the dead-letter sink in one write (not a write, a
    task and a sync each); each batch is acknowledged only once its dead letters are written."""

    class Writes(pump.Sink):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline, id="dead")
            self.calls: list[list[int]] = []

        async def _write(self, events):
            await asyncio.sleep(0.01)
            self.calls.append([e["event"]["seq"] for e in events])

        def write(self, events, contexts):
            return self._write(events)

    class OddFails(pump.Processor):
        def process(self, context, event):
            if event["seq"] % 2:
                raise ValueError("odd")
            return event

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})
    events = [{"seq": i} for i in range(20)]
    source = kit.RecordingSource(app, pipeline, events, batch_size=10, per_event_context=True)
    out = kit.CollectSink(app, pipeline, id="out")
    pipeline.build(source, OddFails(app, pipeline, "odd"), out)
    pipeline.set_dead_letter(dead := Writes(app, pipeline))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert dead.calls == [[1, 3, 5, 7, 9], [11, 13, 15, 17, 19]]
    assert [e["seq"] for e in out.events] == list(range(0, 20, 2))
    assert sorted(source.acknowledged) == [(0, 10), (10, 20)]
    assert pipeline.metrics()["dead_lettered"] == 10
