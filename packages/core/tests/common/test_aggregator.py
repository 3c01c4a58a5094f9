"""Aggregator: completion by size, timeout and interval; strategies; holding and acknowledgement."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from pump import Application, ConfigError, Generator, Pipeline, Processor, Sink, Source
from pump.common import (
    Aggregator,
    DictAggregationStrategy,
    ListSink,
    MappingValuesGenerator,
    StringAggregationStrategy,
)


class ScriptedSource(Source):
    """Emits batches after given delays, records acks and rejects, then waits to be released."""

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        steps: list[tuple[float, list[Any]]],
        finish: bool = False,
    ) -> None:
        super().__init__(app, pipeline, "scripted")
        self.steps = steps
        self.finish = asyncio.Event()
        if finish:
            self.finish.set()
        self.emitted_at: list[float] = []
        self.acked: list[int] = []
        self.rejected: list[int] = []
        self.done_emitting = asyncio.Event()

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        for token, (delay, events) in enumerate(self.steps):
            if delay:
                await asyncio.sleep(delay)
            self.emitted_at.append(loop.time())
            await self.emit(events, {"batch": token}, token=token)
        self.done_emitting.set()
        await self.finish.wait()

    def acknowledge(self, batch: Any) -> None:
        self.acked.append(batch.token)

    def reject(self, batch: Any) -> None:
        self.rejected.append(batch.token)


class GatedSink(Sink):
    """A sink whose writes complete only when the test releases them."""

    def __init__(self, app: Application, pipeline: Pipeline) -> None:
        super().__init__(app, pipeline, "gated")
        self.pending: list[tuple[list[Any], asyncio.Future[None]]] = []
        self.written: list[Any] = []

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((list(events), future))
        return future

    def release(self) -> None:
        for events, future in self.pending:
            self.written.extend(events)
            future.set_result(None)
        self.pending.clear()


class TimedListSink(ListSink):
    """A ListSink that also records when each event was written."""

    def __init__(self, app: Application, pipeline: Pipeline) -> None:
        super().__init__(app, pipeline)
        self.times: list[float] = []
        self.arrived = asyncio.Event()

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
        super().write(events, contexts)
        self.times.extend([asyncio.get_running_loop().time()] * len(events))
        self.arrived.set()


@dataclass
class Rig:
    """An app with one pipeline: ScriptedSource → Aggregator → sink."""

    app: Application
    pipeline: Pipeline
    source: ScriptedSource
    aggregator: Aggregator
    sink: Any


def build(
    steps: list[tuple[float, list[Any]]],
    sink_class: type[Sink] = ListSink,
    finish: bool = False,
    pipeline_config: dict[str, Any] | None = None,
    **aggregator_kwargs: Any,
) -> Rig:
    app = Application()
    pipeline = Pipeline(app, "agg", config=pipeline_config)
    source = ScriptedSource(app, pipeline, steps, finish=finish)
    aggregator = Aggregator(app, pipeline, **aggregator_kwargs)
    sink = sink_class(app, pipeline)
    pipeline.build(source, aggregator, sink)
    app.add_pipeline(pipeline)
    return Rig(app, pipeline, source, aggregator, sink)


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


async def test_completes_by_size_and_emits_the_rest_when_the_source_ends(run: Any) -> None:
    r = await run(
        range(10),
        lambda app, p: Aggregator(app, p, config={"completion_size": 3}),
        source_config={"batch_size": 4},
    )
    assert r.events == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert r.pipeline.in_flight == 0
    assert r.pipeline.counters.events_out == 4


async def test_aggregate_gets_a_fresh_writable_context(run: Any) -> None:
    r = await run(range(4), lambda app, p: Aggregator(app, p, config={"completion_size": 2}))
    assert r.contexts == [{}, {}]
    assert r.contexts[0] is not r.contexts[1]
    r.contexts[0]["written"] = True  # not a read-only SharedContext


async def test_completes_by_timeout_counted_from_the_first_event() -> None:
    rig = build(
        [(0, ["a"]), (0.1, ["b"])],
        sink_class=TimedListSink,
        config={"completion_size": 100, "completion_timeout": 0.2},
    )
    await rig.app.start()
    try:
        await asyncio.wait_for(rig.sink.arrived.wait(), 2)
        # 0.2 s after "a", not 0.2 s after "b" (which came 0.1 s later).
        assert rig.sink.events == [["a", "b"]]
        assert 0.18 <= rig.sink.times[0] - rig.source.emitted_at[0] < 0.29
        rig.sink.arrived.clear()
        t_c = asyncio.get_running_loop().time()
        await rig.source.emit(["c"], {}, token=2)
        await asyncio.wait_for(rig.sink.arrived.wait(), 2)
        assert rig.sink.events == [["a", "b"], ["c"]]
        assert 0.18 <= rig.sink.times[1] - t_c < 0.35
        assert sorted(rig.source.acked) == [0, 1, 2]
    finally:
        rig.source.finish.set()
        await rig.app.stop()


async def test_completes_by_interval_at_fixed_ticks() -> None:
    rig = build(
        [(0.15, ["a"])],
        sink_class=TimedListSink,
        config={"completion_size": 100, "completion_interval": 0.3},
    )
    started = asyncio.get_running_loop().time()
    await rig.app.start()
    try:
        await asyncio.wait_for(rig.sink.arrived.wait(), 2)
        assert rig.sink.events == [["a"]]
        # The tick at ~0.3 s after start, not 0.3 s after the event (~0.45 s).
        assert 0.25 <= rig.sink.times[0] - started < 0.42
        # Ticks with nothing held emit nothing.
        await asyncio.sleep(0.35)
        assert rig.sink.events == [["a"]]
    finally:
        rig.source.finish.set()
        await rig.app.stop()


@pytest.mark.parametrize(
    ("config", "strategy", "expected"),
    [
        ({}, None, [[1, 2], [3]]),
        ({"strategy": "list"}, None, [[1, 2], [3]]),
        (
            {"strategy": "pairs"},
            None,
            [[({"batch": 0}, 1), ({"batch": 0}, 2)], [({"batch": 0}, 3)]],
        ),
        ({"strategy": "dict"}, None, [{"events": [1, 2]}, {"events": [3]}]),
        ({"strategy": "dict", "key": "items"}, None, [{"items": [1, 2]}, {"items": [3]}]),
        ({"strategy": "string"}, None, ["1\n2", "3"]),
        ({"strategy": "string", "delimiter": ", "}, None, ["1, 2", "3"]),
        ({}, StringAggregationStrategy("|"), ["1|2", "3"]),
        ({}, DictAggregationStrategy("rows"), [{"rows": [1, 2]}, {"rows": [3]}]),
    ],
)
async def test_strategies(config: dict[str, Any], strategy: Any, expected: list[Any]) -> None:
    rig = build(
        [(0, [1, 2, 3])],
        finish=True,
        aggregation_strategy=strategy,
        config={"completion_size": 2, **config},
    )
    await rig.app.start()
    await wait_for(rig.app.finished)
    await rig.app.stop()
    assert rig.sink.events == expected
    assert rig.source.acked == [0]


async def test_source_batches_are_acknowledged_only_after_the_aggregate_is_written() -> None:
    rig = build(
        [(0, [1, 2, 3]), (0, [4, 5, 6])],
        sink_class=GatedSink,
        config={"completion_size": 4},
    )
    await rig.app.start()
    try:
        await wait_for(lambda: rig.source.done_emitting.is_set() and rig.sink.pending)
        assert [events for events, _ in rig.sink.pending] == [[[1, 2, 3, 4]]]
        await asyncio.sleep(0.01)
        assert rig.source.acked == []  # the aggregate is not written yet
        assert rig.pipeline.in_flight == 6

        rig.sink.release()
        await wait_for(lambda: rig.source.acked)
        # Batch 0 is all in the written aggregate; batch 1 still has 5 and 6 held.
        assert rig.source.acked == [0]
        assert rig.aggregator.CurrentSize == 2

        await rig.aggregator.flush()
        assert [events for events, _ in rig.sink.pending] == [[[5, 6]]]
        await asyncio.sleep(0.01)
        assert rig.source.acked == [0]
        rig.sink.release()
        await wait_for(lambda: len(rig.source.acked) == 2)
        assert rig.source.acked == [0, 1]
        assert rig.sink.written == [[1, 2, 3, 4], [5, 6]]
        assert rig.pipeline.in_flight == 0
        assert rig.source.rejected == []
    finally:
        rig.source.finish.set()
        await rig.app.stop()


async def test_flush_sends_a_partial_aggregate_and_does_nothing_when_empty() -> None:
    rig = build([(0, [1, 2])], config={"completion_size": 10})
    await rig.app.start()
    try:
        await wait_for(rig.source.done_emitting.is_set)
        assert rig.sink.events == []
        await rig.aggregator.flush()
        assert rig.sink.events == [[1, 2]]
        await rig.aggregator.flush()
        assert rig.sink.events == [[1, 2]]
        await wait_for(lambda: rig.source.acked == [0])
    finally:
        rig.source.finish.set()
        await rig.app.stop()


async def test_stopping_the_app_emits_what_is_held_and_acknowledges_it() -> None:
    rig = build([(0, [1, 2, 3])], config={"completion_size": 10})
    await rig.app.start()
    await wait_for(rig.source.done_emitting.is_set)
    assert rig.sink.events == []
    # The source never finishes by itself; stopping cancels it, and the drain must not
    # wait for a completion rule that will never fire.
    exit_code = await rig.app.stop(timeout=2)
    assert exit_code == 0
    assert rig.sink.events == [[1, 2, 3]]
    assert rig.source.acked == [0]
    assert rig.pipeline.in_flight == 0


async def test_stop_emits_anything_still_held() -> None:
    rig = build([(0, [1, 2])], config={"completion_size": 10})
    await rig.app.start()
    await wait_for(rig.source.done_emitting.is_set)
    await rig.aggregator.stop()
    assert rig.sink.events == [[1, 2]]
    rig.source.finish.set()
    await rig.app.stop()


async def test_a_failed_aggregate_rejects_its_source_batches() -> None:
    class Boom(Processor):
        def process(self, context: dict[str, Any], event: Any) -> Any:
            raise RuntimeError("boom")

    rig = build(
        [(0, [1, 2]), (0, [3])],
        finish=True,
        config={"completion_size": 3},
    )
    rig.pipeline.insert_after(rig.aggregator.Id, Boom(rig.app, rig.pipeline, "boom"))
    await rig.app.start()
    await wait_for(rig.app.finished)
    await rig.app.stop()
    assert rig.sink.events == []
    assert rig.source.acked == []
    assert sorted(rig.source.rejected) == [0, 1]
    assert rig.pipeline.error is not None and rig.pipeline.error.component == "boom"


async def test_holds_events_injected_by_a_generator() -> None:
    rig = build(
        [(0, [{"a": 1, "b": 2}, {"c": 3}])],
        finish=True,
        config={"completion_size": 2},
    )
    generator = MappingValuesGenerator(rig.app, rig.pipeline, "values")
    rig.pipeline.insert_before(rig.aggregator.Id, generator)
    await rig.app.start()
    await wait_for(rig.app.finished)
    await rig.app.stop()
    assert rig.sink.events == [[1, 2], [3]]
    assert rig.source.acked == [0]


async def test_events_arriving_after_the_sources_finished_are_not_held() -> None:
    class SlowGenerator(Generator):
        async def generate(self, context: dict[str, Any], event: Any, depth: int) -> None:
            await asyncio.sleep(0.05)
            for child in event:
                self.Pipeline.inject(context, child, depth)  # type: ignore[union-attr]

    rig = build([(0, [[1, 2, 3]])], finish=True, config={"completion_size": 100})
    rig.pipeline.insert_before(rig.aggregator.Id, SlowGenerator(rig.app, rig.pipeline, "slow"))
    await rig.app.start()
    await wait_for(rig.app.finished)  # would hang if 1, 2, 3 stayed held
    await rig.app.stop()
    assert rig.sink.events == [[1, 2, 3]]
    assert rig.source.acked == [0]


async def test_warns_when_size_alone_can_exceed_max_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = build(
        [], finish=True, pipeline_config={"max_in_flight": 50}, config={"completion_size": 50}
    )
    with caplog.at_level(logging.WARNING):
        await rig.app.start()
    await rig.app.stop()
    assert "max_in_flight" in caplog.text and "agg" in caplog.text


def test_config_is_validated() -> None:
    app = Application()
    pipeline = Pipeline(app, "agg")
    with pytest.raises(ConfigError, match="completion_size"):
        Aggregator(app, pipeline, config={"completion_size": 0})
    with pytest.raises(ConfigError, match="strategy"):
        Aggregator(app, pipeline, config={"strategy": "set"})


async def test_behind_a_tee_the_run_ends_soon_after_the_upstream_source() -> None:
    # The aggregator looks through its InternalSource to the upstream pipeline's sources; it
    # used to do so only on the application's 1 s tick, so every such run lasted a second more.
    from pump.common import IteratorSource
    from pump.routing import InternalSource, TeeProcessor

    app = Application()
    up = Pipeline(app, "up")
    up.build(
        IteratorSource(app, up, [{"n": i} for i in range(10)]),
        TeeProcessor(app, up, config={"target": "down"}),
        ListSink(app, up),
    )
    down = Pipeline(app, "down")
    sink = ListSink(app, down)
    down.build(
        InternalSource(app, down), Aggregator(app, down, config={"completion_size": 1000}), sink
    )
    app.add_pipeline(down)
    app.add_pipeline(up)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(app.main(), 5) == 0
    assert loop.time() - started < 0.6
    assert [[e["n"] for e in aggregate] for aggregate in sink.events] == [list(range(10))]
