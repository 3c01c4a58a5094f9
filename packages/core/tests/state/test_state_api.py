"""Keyed state: partitions, acknowledgement on checkpoint, max_in_flight, restore, replays."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.state import MemoryBackend


async def test_state_is_scoped_per_partition_and_checkpointed_at_stop(statekit):
    backend = MemoryBackend()
    app, pipeline, source, _processor, sink = statekit.build(
        statekit.records_of({"p0": range(30), "p1": range(12)}), backend=backend
    )
    assert await statekit.run(app) == 0
    assert statekit.counts(backend) == {
        "p0": {"a": 10, "b": 10, "c": 10},
        "p1": {"a": 4, "b": 4, "c": 4},
    }
    assert backend._positions[("CountPerKey", "p0")] == {"p0": 29}
    assert backend._positions[("CountPerKey", "p1")] == {"p1": 11}
    assert source.acked() == 42 and source.rejected == []
    assert sink.events == []
    m = pipeline.metrics()
    assert m["aggregated"] == 42 and m["in_flight"] == 0


async def test_absorbed_events_are_acknowledged_only_by_a_durable_checkpoint(statekit):
    app, pipeline, source, processor, _sink = statekit.build(
        statekit.records_of({"p0": range(100)}), config={"checkpoint_interval": 3600}
    )
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0)
    assert source.acknowledged == []  # absorbed, but no checkpoint yet
    assert pipeline.in_flight == 0  # absorbed events are not in flight
    assert processor.state.get("a") == 34
    assert await pipeline.checkpoint() is True
    assert source.acked() == 100
    assert await app.stop() == 0


async def test_window_longer_than_max_in_flight_does_not_stall_the_source(statekit):
    # 20,000 events into state with max_in_flight 100: absorbed events do not count
    app, pipeline, source, processor, _sink = statekit.build(
        statekit.records_of({"p0": range(20_000)}),
        config={"max_in_flight": 100, "checkpoint_interval": 0.05},
        batch_size=50,
    )
    assert await statekit.run(app) == 0
    assert source.acked() == 20_000
    assert processor.state.get("a") is None  # unbound after stop; the checkpoint has them
    assert pipeline.metrics()["aggregated"] == 20_000


async def test_checkpoint_every_n_events_acknowledges_while_running(statekit):
    app, pipeline, source, _processor, _sink = statekit.build(
        statekit.records_of({"p0": range(1000)}),
        config={"checkpoint_interval": 3600, "checkpoint_events": 100},
    )
    await app.start()
    await asyncio.wait_for(_until(lambda: source.acked() >= 900), 5)
    assert pipeline.checkpointer.written >= 2  # several, each once ~100 events came
    assert await app.stop() == 0
    assert source.acked() == 1000


async def test_state_restored_from_the_last_checkpoint_on_restart(statekit):
    backend = MemoryBackend()
    app, *_ = statekit.build(statekit.records_of({"p0": range(30)}), backend=backend)
    assert await statekit.run(app) == 0
    app, _pipeline, _source, _processor, _sink = statekit.build(
        statekit.records_of({"p0": range(30, 60)}), backend=backend
    )
    assert await statekit.run(app) == 0
    assert statekit.counts(backend) == {"p0": {"a": 20, "b": 20, "c": 20}}


async def test_replayed_events_already_in_the_state_are_not_counted_twice(statekit):
    backend = MemoryBackend()
    app, *_ = statekit.build(
        statekit.records_of({"p0": range(50), "p1": range(20)}), backend=backend
    )
    assert await statekit.run(app) == 0
    # the source's committed position lagged the checkpoint: it delivers 35.. and 10.. again,
    # with batch boundaries that straddle the checkpointed position
    app, _pipeline, source, _processor, _sink = statekit.build(
        statekit.records_of({"p0": range(35, 80), "p1": range(10, 20)}),
        backend=backend,
        batch_size=7,
    )
    assert await statekit.run(app) == 0
    clean = statekit.build(statekit.records_of({"p0": range(80), "p1": range(20)}))
    assert statekit.counts(backend) == {
        "p0": {"a": 27, "b": 27, "c": 26},
        "p1": {"a": 7, "b": 7, "c": 6},
    }
    assert source.acked() == 55  # replayed events are done too
    del clean


async def test_pass_through_processor_replays_drop_by_default_and_can_be_overridden(statekit):
    class CountPassReplay(statekit.CountAndPass):
        def replay(self, context, event):
            return (event, "replayed")

    backend = MemoryBackend()
    app, *_ = statekit.build(
        statekit.records_of({"p0": range(6)}), CountPassReplay, backend=backend
    )
    assert await statekit.run(app) == 0
    app, _pipeline, _source, _processor, sink = statekit.build(
        statekit.records_of({"p0": range(3, 9)}), CountPassReplay, backend=backend
    )
    assert await statekit.run(app) == 0
    assert sink.events == [
        ("a", "replayed"),
        ("b", "replayed"),
        ("c", "replayed"),
        ("a", 3),
        ("b", 3),
        ("c", 3),
    ]


async def test_output_not_written_holds_the_checkpoint_back(statekit):
    # a pass-through stateful processor's output is pending in the sink: the checkpoint waits,
    # so a checkpointed position never covers an event whose output might be lost
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"checkpoint_interval": 3600})
    source = statekit.PositionedSource(app, pipeline, statekit.records_of({"p0": range(10)}))
    gate_open = asyncio.Event()

    class GateSink(pump.Sink):
        async def _write(self):
            await gate_open.wait()

        def write(self, events, contexts):
            return self._write()

    pipeline.build(source, statekit.CountAndPass(app, pipeline), GateSink(app, pipeline))
    app.add_pipeline(pipeline)
    await app.start()
    await asyncio.sleep(0.01)
    assert await pipeline.checkpoint(timeout=0.1) is False  # the output is not written yet
    assert source.acknowledged == []
    gate_open.set()
    assert await pipeline.checkpoint(timeout=1) is True
    assert source.acked() == 10
    assert await app.stop() == 0


async def test_emit_from_state_sends_events_after_the_processor(statekit):
    class EmitOnFive(pump.Processor):
        stateful = True
        consumes_events = True

        def process(self, context, event):
            n = self.state.get(event, 0) + 1
            if n == 5:
                self.state.delete(event)
                self.state.emit([{"key": event, "count": n}])
            else:
                self.state.set(event, n)
            return None

    app, _pipeline, source, _processor, sink = statekit.build(
        statekit.records_of({"p0": range(15)}), EmitOnFive
    )
    assert await statekit.run(app) == 0
    assert sorted(sink.events, key=lambda e: e["key"]) == [
        {"key": "a", "count": 5},
        {"key": "b", "count": 5},
        {"key": "c", "count": 5},
    ]
    assert source.acked() == 15


def test_state_outside_a_pipeline_is_a_plain_keyed_store(statekit):
    app = pump.Application()
    processor = statekit.CountPerKey(app)
    for key in "abca":
        processor.process({}, key)
    assert processor.state.get("a") == 2 and "b" in processor.state and len(processor.state) == 3
    processor.state.delete("a")
    assert processor.state.get("a") is None
    with pytest.raises(KeyError):
        del processor.state["zzz"]


async def _until(condition, poll=0.005):
    while not condition():
        await asyncio.sleep(poll)


async def test_a_source_with_a_prefetch_limit_never_waits_for_the_checkpoint_interval(statekit):
    class PrefetchSource(statekit.PositionedSource):
        """Like a broker with a prefetch count: stops at 100 events unacknowledged."""

        def unacknowledged_limit(self):
            return 100

        async def main(self):
            for start in range(0, 2000, 10):
                while start - self.acked() >= 100:
                    await asyncio.sleep(0.001)
                chunk = [("p0", o, "k") for o in range(start, start + 10)]
                contexts = [{"part": "p0", "offset": o} for _, o, _ in chunk]
                await self.emit(["k"] * 10, contexts=contexts, token=("p0", start, start + 9))

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"checkpoint_interval": 3600})
    source = PrefetchSource(app, pipeline, [])
    pipeline.build(source, statekit.CountPerKey(app, pipeline), pump.common.ListSink(app, pipeline))
    app.add_pipeline(pipeline)
    await app.start()
    # checkpoints every 50 events: all of them come long before the hour is up
    await asyncio.wait_for(_until(lambda: source.acked() >= 1950), 10)
    assert pipeline.checkpointer.events == 50
    assert await app.stop() == 0
    assert source.acked() == 2000


def test_a_whole_chunk_carries_every_position_and_a_delta_the_advanced_ones():
    from pump.state.store import Partition

    partition = Partition("", {"k": 1}, {"file-a": 5, "file-b": 7}, [], 3)
    partition.data["k"] = 2
    partition.changed.add("k")
    partition.applied["file-a"] = 9
    partition.advanced.add("file-a")
    partition.needs_base = True  # e.g. restored from elsewhere: written whole
    base = partition.take_changes("p")
    assert base.base and base.seq == 4
    assert base.positions == {"file-a": 9, "file-b": 7}  # a reader may start from this one
    partition.data["k"] = 3
    partition.changed.add("k")
    partition.data["j"] = 1
    partition.changed.add("j")
    partition.data.update({f"x{i}": i for i in range(10)})  # most keys unchanged: a delta
    partition.applied["file-b"] = 8
    partition.advanced.add("file-b")
    delta = partition.take_changes("p")
    assert not delta.base and delta.seq == 5 and delta.positions == {"file-b": 8}
