"""The harness: processors and pipelines run on given events; outputs and acks reported."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.testing import (
    CollectingSink,
    Harness,
    HarnessSource,
    arun_pipeline,
    arun_processor,
    run_pipeline,
    run_processor,
)


class Double(pump.Processor):
    """Doubles `value`; drops events marked `drop`; fails on `value == 13`."""

    ConfigDefaults = {"factor": 2}

    def process(self, context, event):
        if event.get("drop"):
            return None
        if event["value"] == 13:
            raise ValueError("unlucky")
        return {**event, "value": event["value"] * self.Config["factor"]}


class Tag(pump.Processor):
    """Writes the event's value into its context."""

    writes_context = True

    def process(self, context, event):
        context["tagged"] = event["value"]
        return event


class UndeclaredTag(pump.Processor):
    """Writes into the context without declaring `writes_context` (a bug)."""

    def process(self, context, event):
        context["tagged"] = True
        return event


class Split(pump.Generator):
    """Emits one child per item of `items`."""

    async def generate(self, context, event, depth):
        for item in event["items"]:
            await asyncio.sleep(0)
            self.Pipeline.inject(context, {"item": item}, depth)


class Counter(pump.Processor):
    """Counts the events it saw across runs."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.seen = 0

    def process(self, context, event):
        self.seen += 1
        return {**event, "seen": self.seen}


def test_run_processor_returns_outputs_contexts_and_counters():
    result = run_processor(
        Double,
        [{"value": 1}, {"value": 2, "drop": True}, {"value": 3}],
        config={"factor": 10},
        contexts=[{"n": 1}, {"n": 2}, {"n": 3}],
    )
    assert result.events == [{"value": 10}, {"value": 30}]
    assert result.contexts == [{"n": 1}, {"n": 3}]
    assert result.counters["events_in"] == 3
    assert result.counters["dropped"] == 1
    assert result.counters["events_out"] == 2
    assert result.acknowledged == [0, 1, 2]  # a dropped event is done too
    assert result.exit_code == 0 and result.drained


def test_run_processor_accepts_a_factory():
    result = run_processor(
        lambda app, pipeline: Double(app, pipeline, config={"factor": 3}), [{"value": 2}]
    )
    assert result.events == [{"value": 6}]
    with pytest.raises(TypeError, match="factory"):
        run_processor(
            lambda app, pipeline: Double(app, pipeline), [{"value": 2}], config={"factor": 3}
        )


def test_failing_event_is_rejected_and_stops_the_pipeline():
    result = run_processor(Double, [{"value": 1}, {"value": 13}, {"value": 2}])
    assert result.events == [{"value": 2}]
    assert result.acknowledged == [0]
    assert result.rejected == [1]
    # The pipeline stopped on the error: the third event was never taken.
    assert 2 not in result.acknowledged
    assert isinstance(result.error.error, ValueError)
    assert [type(e.error) for e in result.errors] == [ValueError]
    assert result.exit_code == 1


def test_skip_policy_acknowledges_the_failed_event():
    result = run_processor(
        Double, [{"value": 1}, {"value": 13}, {"value": 2}], pipeline_config={"on_error": "skip"}
    )
    assert result.events == [{"value": 2}, {"value": 4}]
    assert result.acknowledged == [0, 1, 2]
    assert result.metrics["errors"] == 1


def test_dead_letter_policy_uses_the_harness_dead_letter_sink():
    result = run_processor(
        Double, [{"value": 13}, {"value": 1}], pipeline_config={"on_error": "dead_letter"}
    )
    assert result.events == [{"value": 2}]
    assert [d["event"] for d in result.dead_letters] == [{"value": 13}]
    assert "ValueError: unlucky" in result.dead_letters[0]["error"]
    assert result.acknowledged == [0, 1]


def test_context_writes_need_writes_context():
    declared = run_processor(Tag, [{"value": 5}])
    assert declared.contexts == [{"tagged": 5}]
    undeclared = run_processor(UndeclaredTag, [{"value": 5}])
    assert undeclared.events == []
    assert isinstance(undeclared.error.error, pump.ContextWriteError)
    # Per-event contexts (as a broker source hands over) are writable.
    per_event = run_processor(UndeclaredTag, [{"value": 5}], shared_context=False)
    assert per_event.contexts == [{"tagged": True}]


def test_generator_children_are_collected_and_the_parent_acknowledged():
    result = run_processor(Split, [{"items": [1, 2, 3]}, {"items": []}])
    assert result.events == [{"item": 1}, {"item": 2}, {"item": 3}]
    assert result.acknowledged == [0, 1]


def test_batches_report_acknowledgement_per_batch():
    result = run_processor(Double, [{"value": v} for v in range(5)], batch_size=2)
    assert [b.positions for b in result.batches] == [[0, 1], [2, 3], [4]]
    assert all(b.status == "acknowledged" and b.times_settled == 1 for b in result.batches)


class Enrich(pump.Pipeline):
    """A BSPump-style pipeline with its own source and sink."""

    def __init__(self, app, pipeline_id="enrich"):
        super().__init__(app, pipeline_id)
        self.build(
            HarnessSource(app, self, "original_source"),
            Double(app, self),
            CollectingSink(app, self, "original_sink"),
        )


def test_run_pipeline_replaces_source_and_sink():
    result = run_pipeline(Enrich, [({"k": "a"}, {"value": 1}), (None, {"value": 2})])
    assert result.outputs == [({"k": "a"}, {"value": 2}), ({}, {"value": 4})]
    assert [s.Id for s in result.pipeline.Sources] == ["HarnessSource"]
    assert result.pipeline.sink.Id == "HarnessSink"
    assert result.metrics["events_in"] == 2 and result.metrics["events_out"] == 2


def test_run_pipeline_can_keep_the_sink_and_record_its_writes():
    pipeline_holder = {}

    def build(app):
        pipeline_holder["p"] = Enrich(app)
        return pipeline_holder["p"]

    result = run_pipeline(build, [(None, {"value": 1})], keep_sink=True)
    sink = pipeline_holder["p"].sink
    assert sink.Id == "original_sink"
    assert sink.events == [{"value": 2}]
    assert result.events == [{"value": 2}]


def test_sink_that_never_finishes_leaves_the_batch_unacknowledged():
    class Stuck(pump.Sink):
        def write(self, events, contexts):
            return asyncio.get_running_loop().create_future()

    def build(app):
        pipeline = pump.Pipeline(app, "stuck")
        pipeline.build(HarnessSource(app, pipeline), Double(app, pipeline), Stuck(app, pipeline))
        return pipeline

    result = run_pipeline(build, [(None, {"value": 1})], keep_sink=True, timeout=0.3)
    assert not result.drained
    assert result.acknowledged == []
    assert result.events == []


async def test_async_versions_run_in_the_running_loop():
    result = await arun_processor(Double, [{"value": 4}])
    assert result.events == [{"value": 8}]
    with pytest.raises(RuntimeError, match="arun_processor"):
        run_processor(Double, [{"value": 4}])
    piped = await arun_pipeline(Enrich, [(None, {"value": 1})])
    assert piped.events == [{"value": 2}]


def test_harness_keeps_the_processor_between_runs():
    with Harness() as harness:
        counter = harness.set_up_processor(Counter)
        first = harness.execute([(None, {"a": 1}), (None, {"a": 2})])
        second = harness.run([(None, {"a": 3})])
        assert [e["seen"] for _, e in first] == [1, 2]
        assert second.events == [{"a": 3, "seen": 3}]
        assert second.acknowledged == [2]  # positions count across runs
        assert counter.seen == 3


def test_harness_runs_again_after_a_failure():
    with Harness() as harness:
        harness.set_up_processor(Double)
        failed = harness.run([(None, {"value": 13})])
        assert failed.rejected == [0]
        again = harness.run([(None, {"value": 2})])
        assert again.events == [{"value": 4}]
        assert again.acknowledged == [1]
        assert again.error is None


async def test_pump_harness_fixture_runs_async(pump_harness):
    pump_harness.set_up_processor(Double, {"factor": 5})
    assert await pump_harness.aexecute([(None, {"value": 1})]) == [({}, {"value": 5})]
    assert (await pump_harness.arun([(None, {"value": 2})])).events == [{"value": 10}]


def test_pump_app_fixture_is_a_fresh_application(pump_app):
    assert isinstance(pump_app, pump.Application)
    assert not pump_app.Pipelines and not pump_app.Connections


class _Joiner(pump.Processor):
    def __init__(self, app, pipeline, separator, id=None, config=None, *, strategy="plain"):
        super().__init__(app, pipeline, id, config)
        self.separator, self.strategy = separator, strategy

    def process(self, context, event):
        return f"{self.strategy}{self.separator}{event}"


def test_run_processor_passes_extra_constructor_arguments():
    result = run_processor(_Joiner, ["a"], args=("+",), kwargs={"strategy": "k"})
    assert result.events == ["k+a"]


def test_extra_arguments_are_refused_with_a_factory():
    with pytest.raises(TypeError, match="constructor arguments"):
        run_processor(lambda app, pipeline: _Joiner(app, pipeline, "+"), ["a"], args=("+",))
