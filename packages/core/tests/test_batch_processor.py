"""Batch processors (`process_batch`) in a chain: results, drops, counters, errors, holds."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.common import Aggregator
from pump.dispatch import is_batch_processor
from pump.routing import InternalSource, TeeProcessor


class AddOne(pump.Processor):
    def process(self, context, event):
        return {**event, "n": event["n"] + 1}


class KeepEven(pump.Processor):
    """A batch processor: drops odd `n`, records the size of each batch it is given."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.calls: list[int] = []

    def process_batch(self, contexts, events):
        self.calls.append(len(events))
        assert len(contexts) == len(events)
        return [e if e["n"] % 2 == 0 else None for e in events]


class Poison(pump.Processor):
    """Batch processor with a per-event `process`: a batch with a poison event raises."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.seen: list[int] = []

    def process(self, context, event):
        if event.get("poison"):
            raise ValueError("field 'poison' is set")
        self.seen.append(event["n"])
        return event

    def process_batch(self, contexts, events):
        if any(e.get("poison") for e in events):
            raise ValueError("field 'poison' is set")
        self.seen += [e["n"] for e in events]
        return None


class PoisonBatchOnly(pump.Processor):
    """Batch processor without a per-event `process`."""

    def process_batch(self, contexts, events):
        if any(e.get("poison") for e in events):
            raise ValueError("field 'poison' is set")
        return None


def build(kit, processors, events, batch_size=5, config=None):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config=config)
    source = kit.RecordingSource(app, pipeline, events, batch_size=batch_size)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, *[p(app, pipeline) for p in processors], sink)
    app.add_pipeline(pipeline)
    return app, pipeline, source, sink


def numbered(n, poison=None):
    events = [{"n": i} for i in range(n)]
    if poison is not None:
        events[poison]["poison"] = True
    return events


def test_only_an_own_process_batch_makes_a_batch_processor():
    class PerEventAggregator(Aggregator):
        def process(self, context, event):
            return super().process(context, event)

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    assert is_batch_processor(KeepEven(app, pipeline))
    assert is_batch_processor(Aggregator(app, pipeline))
    assert not is_batch_processor(AddOne(app, pipeline))
    # overriding only `process` of a batch processor keeps that `process` in use
    assert not is_batch_processor(PerEventAggregator(app, pipeline))


async def test_batch_processor_between_per_event_processors(kit):
    app, pipeline, source, sink = build(kit, [AddOne, KeepEven, AddOne], numbered(20))
    assert await kit.run_app(app) == 0
    keep = pipeline.Processors[1]
    assert keep.calls == [5, 5, 5, 5]  # once per batch, not once per event
    assert [e["n"] for e in sink.events] == [i + 2 for i in range(20) if (i + 1) % 2 == 0]
    assert source.acknowledged_count() == 20  # dropped events are done too
    m = pipeline.metrics()
    assert m["dropped"] == 10
    c = m["components"][keep.Id]
    assert (c["events_in"], c["events_out"], c["dropped"]) == (20, 10, 10)
    assert m["components"][pipeline.Processors[2].Id]["events_in"] == 10


async def test_batch_processor_first_with_per_event_contexts(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, numbered(10), batch_size=4, per_event_context=True)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, KeepEven(app, pipeline), AddOne(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [e["n"] for e in sink.events] == [1, 3, 5, 7, 9]
    assert source.acknowledged_count() == 10


async def test_raise_reruns_the_batch_per_event_so_skip_loses_only_the_bad_event(kit, caplog):
    app, pipeline, source, sink = build(
        kit, [Poison], numbered(20, poison=7), config={"on_error": "skip"}
    )
    assert await kit.run_app(app) == 0
    assert [e["n"] for e in sink.events] == [i for i in range(20) if i != 7]
    assert sorted(pipeline.Processors[0].seen) == [i for i in range(20) if i != 7]
    assert source.acknowledged_count() == 20
    m = pipeline.metrics()
    assert m["errors"] == 1 and m["components"]["Poison"]["errors"] == 1
    assert m["components"]["Poison"]["events_out"] == 19
    assert "field 'poison' is set" in caplog.text


async def test_raise_under_stop_rejects_the_batch(kit):
    app, pipeline, source, sink = build(kit, [Poison], numbered(20, poison=7))
    assert await kit.run_app(app) == 1
    assert pipeline.is_error()
    assert "field 'poison'" in pipeline.metrics()["error"]["error"]
    assert (5, 10) in source.rejected and (5, 10) not in source.acknowledged
    assert 7 not in [e["n"] for e in sink.events]


async def test_raise_under_dead_letter_sends_just_the_bad_event(kit):
    app, pipeline, source, sink = build(
        kit, [Poison], numbered(20, poison=7), config={"on_error": "dead_letter"}
    )
    dead = kit.CollectSink(app, pipeline, id="dead")
    pipeline.set_dead_letter(dead)
    assert await kit.run_app(app) == 0
    assert [e["n"] for e in sink.events] == [i for i in range(20) if i != 7]
    assert [r["event"]["n"] for r in dead.events] == [7]
    assert source.acknowledged_count() == 20


async def test_raise_without_process_sends_the_whole_batch_to_the_policy(kit):
    app, pipeline, source, sink = build(
        kit, [PoisonBatchOnly], numbered(20, poison=7), config={"on_error": "dead_letter"}
    )
    dead = kit.CollectSink(app, pipeline, id="dead")
    pipeline.set_dead_letter(dead)
    assert await kit.run_app(app) == 0
    assert [r["event"]["n"] for r in dead.events] == [5, 6, 7, 8, 9]
    assert [e["n"] for e in sink.events] == [*range(5), *range(10, 20)]
    assert pipeline.metrics()["components"]["PoisonBatchOnly"]["errors"] == 5
    assert source.acknowledged_count() == 20


async def test_wrong_number_of_results_is_an_error_naming_it(kit):
    class Short(pump.Processor):
        def process_batch(self, contexts, events):
            return events[1:]

    app, pipeline, _source, sink = build(kit, [Short], numbered(5))
    assert await kit.run_app(app) == 1
    assert "returned 4 results for 5 events" in pipeline.metrics()["error"]["error"]
    assert sink.events == []


async def test_aggregator_takes_batches_and_splits_at_completion_size(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, numbered(10), batch_size=4)
    sink = kit.CollectSink(app, pipeline)
    aggregator = Aggregator(app, pipeline, config={"completion_size": 3})
    pipeline.build(source, aggregator, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [[e["n"] for e in agg] for agg in sink.events] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert source.acknowledged_count() == 10
    m = pipeline.metrics()
    assert m["aggregated"] == 10 and m["components"][aggregator.Id]["aggregated"] == 10


async def test_tee_hands_each_batch_over_whole_and_holds_it_until_done(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, numbered(12), batch_size=4)
    main_sink = kit.CollectSink(app, up)
    tee = TeeProcessor(app, up, config={"target": "copy", "deep_copy": False})
    up.build(source, tee, AddOne(app, up), main_sink)
    app.add_pipeline(up)
    copy_pipeline = pump.Pipeline(app, "copy")
    gate = kit.GateSink(app, copy_pipeline)
    copy_pipeline.build(InternalSource(app, copy_pipeline), gate)
    app.add_pipeline(copy_pipeline)
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0.001)
    assert len(main_sink.events) == 12 and source.acknowledged == []
    gate.gate.set()
    for _ in range(500):
        if source.acknowledged_count() == 12:
            break
        await asyncio.sleep(0.001)
    assert sorted(source.acknowledged) == [(0, 4), (4, 8), (8, 12)]
    assert [e["n"] for e in gate.events] == list(range(12))  # copies, unaffected by AddOne
    assert up.metrics()["components"][tee.Id]["events_out"] == 12
    assert await app.stop() == 0


@pytest.mark.parametrize("deep_copy", [True, False])
async def test_tee_batch_with_an_uncopyable_event_fails_only_that_event(kit, deep_copy):
    class Uncopyable(dict):
        def __deepcopy__(self, memo):
            raise TypeError("cannot copy this event")

        __copy__ = __deepcopy__

    app = pump.Application()
    up = pump.Pipeline(app, "up", config={"on_error": "skip"})
    events = numbered(4)
    events[2] = Uncopyable(n=2)
    source = kit.RecordingSource(app, up, events, batch_size=4)
    main_sink = kit.CollectSink(app, up)
    tee = TeeProcessor(app, up, config={"target": "copy", "deep_copy": deep_copy})
    up.build(source, tee, main_sink)
    app.add_pipeline(up)
    down = pump.Pipeline(app, "copy")
    copy_sink = kit.CollectSink(app, down)
    down.build(InternalSource(app, down), copy_sink)
    app.add_pipeline(down)
    assert await kit.run_app(app) == 0
    assert [e["n"] for e in main_sink.events] == [0, 1, 3]
    assert [e["n"] for e in copy_sink.events] == [0, 1, 3]
    assert up.metrics()["components"][tee.Id]["errors"] == 1
    assert source.acknowledged_count() == 4
