"""A poison event under each on_error policy: stop, skip, dead_letter."""

from __future__ import annotations

import asyncio

import pytest

import pump


class Poison(pump.Processor):
    """Fails on events marked poison, naming the field."""

    def process(self, context, event):
        if event.get("poison"):
            raise ValueError("field 'poison' is set")
        return event


def build(kit, policy, events, dead_letter=None, batch_size=5):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": policy})
    source = kit.RecordingSource(app, pipeline, events, batch_size=batch_size)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, Poison(app, pipeline, "poison"), sink)
    if dead_letter is not None:
        pipeline.set_dead_letter(dead_letter(app, pipeline))
    app.add_pipeline(pipeline)
    return app, pipeline, source, sink


def sample():
    events = [{"seq": i} for i in range(20)]
    events[7]["poison"] = True
    return events


async def test_stop_pauses_pipeline_and_never_acknowledges_the_event(kit):
    app, pipeline, source, sink = build(kit, "stop", sample())
    assert await kit.run_app(app) == 1  # a failed pipeline makes the exit code 1
    assert pipeline.is_error()
    error = pipeline.metrics()["error"]
    assert error["component"] == "poison" and "field 'poison'" in error["error"]
    # the batch with the poison event (5..10) is neither acknowledged nor processed further
    assert (5, 10) not in source.acknowledged
    assert (5, 10) in source.rejected
    assert 7 not in [e["seq"] for e in sink.events]
    assert source.emitted < 20  # sources paused: nothing fetched after the failure
    assert app.failed == [pipeline]


async def test_skip_counts_logs_and_acknowledges(kit, caplog):
    app, pipeline, source, sink = build(kit, "skip", sample())
    assert await kit.run_app(app) == 0
    assert [e["seq"] for e in sink.events] == [i for i in range(20) if i != 7]
    assert source.acknowledged_count() == 20
    m = pipeline.metrics()
    assert m["errors"] == 1 and m["components"]["poison"]["errors"] == 1
    assert "component 'poison'" in caplog.text and "field 'poison' is set" in caplog.text


async def test_dead_letter_gets_event_context_and_error_and_acks_after_it_confirms(kit):
    dead = {}

    class DeadLetters(kit.GateSink):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline, id="dead")
            dead["sink"] = self

    app, pipeline, source, _sink = build(kit, "dead_letter", sample(), dead_letter=DeadLetters)
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0)
    assert (5, 10) not in source.acknowledged  # waiting for the dead-letter sink
    assert source.acknowledged_count() == 15
    dead["sink"].gate.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert source.acknowledged_count() == 20
    [record] = dead["sink"].events
    assert record["event"] == {"seq": 7, "poison": True}
    assert record["component"] == "poison" and record["pipeline"] == "p"
    assert record["error"] == "ValueError: field 'poison' is set"
    assert record["context"] == {"source": source.Id}
    assert pipeline.metrics()["dead_lettered"] == 1
    assert await app.stop() == 0


async def test_failing_dead_letter_sink_stops_the_pipeline(kit):
    class BrokenDeadLetter(pump.Sink):
        def process(self, context, event):
            raise OSError("disk full")

    app, pipeline, source, _sink = build(kit, "dead_letter", sample(), BrokenDeadLetter)
    pipeline.Config.sink_retries = 2
    pipeline.Config.retry_backoff = 0.001
    assert await kit.run_app(app) == 1
    assert pipeline.is_error()
    assert "disk full" in pipeline.metrics()["error"]["error"]
    assert (5, 10) in source.rejected


@pytest.mark.parametrize("policy", ["skip", "dead_letter"])
async def test_sink_failure_after_retries_goes_to_policy(kit, policy):
    class AlwaysFails(pump.Sink):
        def process(self, context, event):
            if event["seq"] == 3:
                raise OSError("rejected by server")

    app = pump.Application()
    pipeline = pump.Pipeline(
        app, "p", config={"on_error": policy, "sink_retries": 2, "retry_backoff": 0.001}
    )
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(6)], batch_size=6)
    pipeline.build(source, AlwaysFails(app, pipeline, "out"))
    dead = kit.CollectSink(app, pipeline, id="dead")
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert source.acknowledged == [(0, 6)]
    m = pipeline.metrics()
    assert m["events_out"] == 5
    if policy == "dead_letter":
        assert [r["event"]["seq"] for r in dead.events] == [3]
        assert "rejected by server" in dead.events[0]["error"]
    else:
        assert dead.events == []


async def test_handle_error_is_overridable(kit):
    class Lenient(pump.Pipeline):
        seen: list = []

        def handle_error(self, exception, context, event):
            self.seen.append((type(exception).__name__, event["seq"]))
            return True

    app = pump.Application()
    pipeline = Lenient(app, "p")
    source = kit.RecordingSource(app, pipeline, sample())
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, Poison(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert Lenient.seen == [("ValueError", 7)]
    assert source.acknowledged_count() == 20


def test_report_error_counts_and_keeps_it_without_stopping(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [])
    pipeline.build(source, kit.CollectSink(app, pipeline))
    pipeline.report_error(source, ConnectionError("broker gone"))
    m = pipeline.metrics()
    assert m["errors"] == 1 and m["components"][source.Id]["errors"] == 1
    assert pipeline.errors[-1].as_dict()["error"] == "ConnectionError: broker gone"
    assert not pipeline.is_error() and m["error"] is None


class UndecodableSource(pump.Source):
    """Hands over raw lines; those that are not numbers are marked as decoding errors."""

    def __init__(self, app, pipeline, lines):
        super().__init__(app, pipeline, id="numbers")
        self.lines = lines
        self.acknowledged, self.rejected = [], []

    async def main(self):
        events, errors = [], {}
        for i, line in enumerate(self.lines):
            try:
                events.append(int(line))
            except ValueError as exc:
                events.append(line)  # the raw input goes to the error policy
                errors[i] = exc
        await self.emit(
            events, contexts=[{"line": i} for i in range(len(events))], token="t", errors=errors
        )

    def acknowledge(self, batch):
        self.acknowledged.append(batch.token)

    def reject(self, batch):
        self.rejected.append(batch.token)


@pytest.mark.parametrize("policy", ["skip", "dead_letter", "stop"])
async def test_events_a_source_cannot_decode_go_to_the_error_policy(kit, policy):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": policy})
    source = UndecodableSource(app, pipeline, ["1", "two", "3", "4x"])
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, sink)
    dead = kit.CollectSink(app, pipeline, id="dead")
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    code = await kit.run_app(app)
    m = pipeline.metrics()
    if policy == "stop":
        assert code == 1 and source.rejected == ["t"] and sink.events == []
        assert "numbers" in m["error"]["component"] and "'two'" in m["error"]["error"]
        return
    assert code == 0 and source.acknowledged == ["t"]
    assert sink.events == [1, 3] and m["errors"] == 2
    assert m["components"]["numbers"]["errors"] == 2
    if policy == "dead_letter":
        assert [(r["event"], r["context"], r["component"]) for r in dead.events] == [
            ("two", {"line": 1}, "numbers"),
            ("4x", {"line": 3}, "numbers"),
        ]
