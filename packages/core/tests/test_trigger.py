"""TriggerSource: cycles run by periodic, pub/sub and run-once triggers, never overlapping."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.trigger import (
    PeriodicTrigger,
    PubSubTrigger,
    RunOnceTrigger,
    Trigger,
    TriggerSource,
)


class CountingSource(TriggerSource):
    """Emits one event per cycle, numbered, and records when each cycle started."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id=id, config=config)
        self.started: list[float] = []

    async def cycle(self):
        self.started.append(asyncio.get_running_loop().time())
        await self.emit([{"cycle": len(self.started)}])


class GatedSource(TriggerSource):
    """A cycle that waits for the test to open the gate; records concurrency."""

    def __init__(self, app, pipeline, id=None):
        super().__init__(app, pipeline, id=id)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.running = 0
        self.max_running = 0
        self.cycles_done = 0

    async def cycle(self):
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.entered.set()
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        self.gate.clear()
        self.entered.clear()
        self.cycles_done += 1


def make_app(kit, source_class=CountingSource, source_config=None, **pipeline_config):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config=pipeline_config or None)
    source = (
        source_class(app, pipeline, config=source_config)
        if source_config
        else (source_class(app, pipeline))
    )
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    return app, pipeline, source, sink


async def wait_for(predicate, timeout=2.0):
    """Poll until `predicate()` is true; fail the test on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_periodic_trigger_fires_at_its_interval(kit):
    app, _pipeline, source, sink = make_app(kit)
    source.on(PeriodicTrigger(app, 0.05))

    runner = asyncio.create_task(kit.run_app(app))
    await asyncio.sleep(0.53)
    app.request_stop()
    assert await runner == 0

    # 10 fires in 0.53 s, give or take scheduling jitter
    assert 8 <= len(source.started) <= 11
    assert [e["cycle"] for e in sink.events] == list(range(1, len(source.started) + 1))
    gaps = [b - a for a, b in zip(source.started, source.started[1:], strict=False)]
    assert 0.04 <= sum(gaps) / len(gaps) <= 0.065
    assert source.counters.cycles == len(source.started)


async def test_cycles_never_overlap_and_extra_fires_are_counted(kit):
    app, _pipeline, source, _sink = make_app(kit, GatedSource)
    trigger = Trigger(app)  # the base trigger fires when told to
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0)
        trigger.fire()
        await asyncio.wait_for(source.entered.wait(), 1)
        for _ in range(5):  # all while the first cycle runs
            trigger.fire()
        await asyncio.sleep(0.02)
        assert source.running == 1

        source.gate.set()
        await asyncio.wait_for(source.entered.wait(), 1)  # the one catch-up cycle
        source.gate.set()
        await wait_for(lambda: source.cycles_done == 2)
        await asyncio.sleep(0.02)

        assert source.max_running == 1
        assert source.counters.cycles == 2  # once more after the busy one, not five times
        assert source.counters.fires_skipped == 4
        assert trigger.fires == 6
    finally:
        await app.stop()


async def test_cycle_waits_until_the_pipeline_is_ready(kit):
    app, pipeline, source, sink = make_app(kit)
    trigger = Trigger(app)
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0)
        pipeline.throttle("test", True)
        for _ in range(3):
            trigger.fire()
        await asyncio.sleep(0.05)
        assert source.counters.cycles == 0  # held back while the pipeline is not ready

        pipeline.throttle("test", False)
        await wait_for(lambda: source.counters.cycles == 1)
        await asyncio.sleep(0.02)
        assert source.counters.cycles == 1  # the three fires made one cycle
        assert source.counters.fires_skipped == 2
        assert sink.events == [{"cycle": 1}]
    finally:
        await app.stop()


async def test_error_in_cycle_sets_the_pipeline_error_and_the_app_exits_1(kit):
    class Failing(TriggerSource):
        async def cycle(self):
            raise ValueError("no data today")

    app, pipeline, source, _sink = make_app(kit, Failing)
    source.on(RunOnceTrigger(app))

    assert await kit.run_app(app) == 1

    assert pipeline.is_error()
    assert isinstance(pipeline.error.error, ValueError)
    assert pipeline.error.component == source.Id
    assert pipeline in app.failed
    assert source.counters.errors == 1
    assert pipeline.metrics()["error"]["error"] == "ValueError: no data today"


async def test_with_on_cycle_error_stop_a_failed_cycle_stops_the_pipeline_not_the_source(kit):
    class FailsOnce(CountingSource):
        async def cycle(self):
            await super().cycle()
            if len(self.started) == 1:
                raise RuntimeError("first cycle fails")

    app, pipeline, source, sink = make_app(kit, FailsOnce, {"on_cycle_error": "stop"})
    trigger = Trigger(app)
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0)
        trigger.fire()
        await wait_for(pipeline.is_error)
        assert not source.task.done()

        pipeline.set_error(None, None, None)  # an operator clears the error
        trigger.fire()
        await wait_for(lambda: len(source.started) == 2)
        assert [e["cycle"] for e in sink.events] == [1, 2]
    finally:
        await app.stop()


async def test_stopping_cancels_a_running_cycle_and_disarms_the_trigger(kit):
    cancelled = asyncio.Event()

    class Slow(TriggerSource):
        async def cycle(self):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    app, pipeline, source, _sink = make_app(kit, Slow)
    trigger = PeriodicTrigger(app, 0.01)
    source.on(trigger)
    await app.start()
    await wait_for(lambda: source.counters.cycles == 1)

    assert await asyncio.wait_for(app.stop(), 2) == 0

    assert cancelled.is_set()
    assert source.task.done()
    assert trigger._task is None  # disarmed: no timer left running
    assert not pipeline.is_error()


def test_run_once_ends_the_pipeline_and_app_run_returns_0(kit):
    class Batches(TriggerSource):
        async def cycle(self):
            for start in range(0, 1000, 100):
                await self.emit([{"n": n} for n in range(start, start + 100)])

    app, pipeline, source, sink = make_app(kit, Batches)
    source.on(RunOnceTrigger(app))

    assert app.run() == 0

    assert [e["n"] for e in sink.events] == list(range(1000))
    assert source.counters.cycles == 1
    assert pipeline.is_finished()


async def test_run_once_in_app_main_returns_0(kit):
    app, _pipeline, source, sink = make_app(kit)
    trigger = RunOnceTrigger(app)
    source.on(trigger)

    assert await kit.run_app(app) == 0

    assert sink.events == [{"cycle": 1}]
    assert trigger.finished_for(source)


async def test_run_once_with_a_periodic_trigger_keeps_the_source_running(kit):
    app, _pipeline, source, _sink = make_app(kit)
    source.on(RunOnceTrigger(app)).on(PeriodicTrigger(app, 0.02))
    await app.start()
    try:
        await wait_for(lambda: source.counters.cycles >= 4)
        assert not source.task.done()
        assert not app.finished()
    finally:
        await app.stop()
    # the run-once cycle came first, at start, before the first periodic tick
    assert source.started[1] - source.started[0] >= 0.015


async def test_pubsub_trigger_fires_on_each_published_message(kit):
    app, _pipeline, source, sink = make_app(kit)
    trigger = PubSubTrigger(app, ["Data.arrived!", "Data.refresh!"])
    source.on(trigger)
    app.PubSub.publish("Data.arrived!")  # before start: nobody is listening yet
    await app.start()
    try:
        await asyncio.sleep(0)
        for message in ("Data.arrived!", "Data.refresh!", "Other.thing!", "Data.arrived!"):
            app.PubSub.publish(message, {"ignored": True})
            await wait_for(lambda: source.counters.cycles == trigger.fires)
        assert source.counters.cycles == 3
        assert len(sink.events) == 3
    finally:
        await app.stop()

    app.PubSub.publish("Data.arrived!")  # after stop: unsubscribed
    assert trigger.fires == 3


async def test_pubsub_trigger_listens_on_a_given_pubsub(kit):
    app, _pipeline, source, _sink = make_app(kit)
    bus = pump.PubSub()
    trigger = PubSubTrigger(app, "Tick!", pubsub=bus)
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0)
        app.PubSub.publish("Tick!")
        bus.publish("Tick!")
        await wait_for(lambda: source.counters.cycles == 1)
        await asyncio.sleep(0.02)
        assert trigger.fires == 1
    finally:
        await app.stop()


async def test_one_trigger_fires_several_sources(kit):
    app = pump.Application()
    trigger = Trigger(app)
    sources, sinks = [], []
    for pid in ("a", "b"):
        pipeline = pump.Pipeline(app, pid)
        source = CountingSource(app, pipeline).on(trigger)
        sink = kit.CollectSink(app, pipeline)
        pipeline.build(source, sink)
        app.add_pipeline(pipeline)
        sources.append(source)
        sinks.append(sink)
    await app.start()
    try:
        await asyncio.sleep(0)
        trigger.fire()
        await wait_for(lambda: all(s.counters.cycles == 1 for s in sources))
        assert [sink.events for sink in sinks] == [[{"cycle": 1}], [{"cycle": 1}]]
        assert trigger.Sources == sources
    finally:
        await app.stop()


async def test_paused_trigger_does_not_fire(kit):
    app, _pipeline, source, _sink = make_app(kit)
    trigger = PeriodicTrigger(app, 0.01)
    trigger.pause()
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0.08)
        assert source.counters.cycles == 0
        trigger.pause(False)
        await wait_for(lambda: source.counters.cycles >= 2)
    finally:
        await app.stop()


async def test_paused_run_once_fires_when_resumed(kit):
    app, _pipeline, source, sink = make_app(kit)
    trigger = RunOnceTrigger(app)
    trigger.pause()
    source.on(trigger)
    await app.start()
    try:
        await asyncio.sleep(0.03)
        assert source.counters.cycles == 0
        assert not source.task.done()
        trigger.pause(False)
        await wait_for(source.task.done)
        assert sink.events == [{"cycle": 1}]
    finally:
        await app.stop()


async def test_cycle_counters_appear_in_pipeline_metrics(kit):
    app, pipeline, source, _sink = make_app(kit)
    source.on(RunOnceTrigger(app))
    assert await kit.run_app(app) == 0

    snapshot = pipeline.metrics()["components"][source.Id]
    assert snapshot["cycles"] == 1
    assert snapshot["fires_skipped"] == 0
    assert snapshot["events_out"] == 1


async def test_source_without_a_trigger_fails_the_start(kit):
    app, _pipeline, _source, _sink = make_app(kit)
    with pytest.raises(pump.BuildError, match="has no trigger"):
        await app.start()


async def test_trigger_attached_while_running_starts_firing(kit):
    app, _pipeline, source, _sink = make_app(kit)
    source.on(PubSubTrigger(app, "Never!"))
    await app.start()
    try:
        await asyncio.sleep(0)
        late = Trigger(app)
        source.on(late)
        late.fire()
        await wait_for(lambda: source.counters.cycles == 1)
    finally:
        await app.stop()


def test_periodic_interval_must_be_positive():
    app = pump.Application()
    with pytest.raises(pump.ConfigError, match="interval must be > 0"):
        PeriodicTrigger(app, 0)


def test_pubsub_trigger_needs_a_message_type():
    with pytest.raises(pump.ConfigError, match="at least one message type"):
        PubSubTrigger(pump.Application(), [])
