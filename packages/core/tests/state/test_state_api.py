"""Keyed state: partitions, acknowledgement on checkpoint, max_in_flight, restore, replays."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.state import MemoryBackend, StreamPosition


class PositionedSource(pump.Source):
    """Emits `(partition, offset, key)` records of given partitions, from given offsets; each
    context names its partition and offset, as a Kafka source's does."""

    def __init__(self, app, pipeline, records, batch_size=10, id=None):
        super().__init__(app, pipeline, id=id)
        self.records = records  # list of (partition, offset, key)
        self.batch_size = batch_size
        self.acknowledged: list[tuple[str, int, int]] = []
        self.rejected: list[tuple[str, int, int]] = []

    async def main(self):
        by_partition: dict[str, list] = {}
        for r in self.records:
            by_partition.setdefault(r[0], []).append(r)
        chunks = []
        for records in by_partition.values():
            for i in range(0, len(records), self.batch_size):
                chunks.append(records[i : i + self.batch_size])
        for chunk in sorted(chunks, key=lambda c: c[0][1]):  # interleave partitions
            contexts = [{"part": p, "offset": o} for p, o, _ in chunk]
            token = (chunk[0][0], chunk[0][1], chunk[-1][1])
            await self.emit([k for _, _, k in chunk], contexts=contexts, token=token)
            await asyncio.sleep(0)  # as a real source awaits its input

    def stream_position(self, batch, contexts):
        first, last = contexts[0], contexts[-1]
        if "offset" not in first:
            return None
        part = batch.token[0]
        return StreamPosition(part, part, first["offset"], last["offset"], "offset")

    def acknowledge(self, batch):
        self.acknowledged.append(batch.token)

    def reject(self, batch):
        self.rejected.append(batch.token)

    def acked(self) -> int:
        return sum(last - first + 1 for _, first, last in self.acknowledged)


class CountPerKey(pump.Processor):
    """Counts events per key in its state; absorbs them."""

    stateful = True
    consumes_events = True

    def process(self, context, event):
        state = self.state
        state.set(event, state.get(event, 0) + 1)
        return None


class CountAndPass(pump.Processor):
    """Counts events per key and passes each on, annotated with the running count."""

    stateful = True

    def process(self, context, event):
        n = self.state.get(event, 0) + 1
        self.state.set(event, n)
        return (event, n)


def build(records, processor_cls=CountPerKey, config=None, backend=None, batch_size=10):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config=config or {})
    source = PositionedSource(app, pipeline, records, batch_size=batch_size)
    processor = processor_cls(app, pipeline)
    sink = pump.common.ListSink(app, pipeline)
    pipeline.build(source, processor, sink)
    if backend is not None:
        pipeline.set_state_backend(backend)
    app.add_pipeline(pipeline)
    return app, pipeline, source, processor, sink


def counts(backend: MemoryBackend, processor="CountPerKey") -> dict:
    """Per partition, the counts as the backend's last checkpoint holds them."""
    import pickle

    out: dict = {}
    for (proc, part), rows in backend._rows.items():
        if proc == processor and rows:
            out[part] = {pickle.loads(k): pickle.loads(v) for k, v in rows.items()}
    return out


async def run(app, timeout=10.0):
    return await asyncio.wait_for(app.main(), timeout)


def records_of(partitions: dict[str, range], keys=("a", "b", "c")):
    return [(p, o, keys[o % len(keys)]) for p, offsets in partitions.items() for o in offsets]


async def test_state_is_scoped_per_partition_and_checkpointed_at_stop():
    backend = MemoryBackend()
    app, pipeline, source, _processor, sink = build(
        records_of({"p0": range(30), "p1": range(12)}), backend=backend
    )
    assert await run(app) == 0
    assert counts(backend) == {"p0": {"a": 10, "b": 10, "c": 10}, "p1": {"a": 4, "b": 4, "c": 4}}
    assert backend._positions[("CountPerKey", "p0")] == {"p0": 29}
    assert backend._positions[("CountPerKey", "p1")] == {"p1": 11}
    assert source.acked() == 42 and source.rejected == []
    assert sink.events == []
    m = pipeline.metrics()
    assert m["aggregated"] == 42 and m["in_flight"] == 0


async def test_absorbed_events_are_acknowledged_only_by_a_durable_checkpoint():
    app, pipeline, source, processor, _sink = build(
        records_of({"p0": range(100)}), config={"checkpoint_interval": 3600}
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


async def test_window_longer_than_max_in_flight_does_not_stall_the_source():
    # 20,000 events into state with max_in_flight 100: absorbed events do not count
    app, pipeline, source, processor, _sink = build(
        records_of({"p0": range(20_000)}),
        config={"max_in_flight": 100, "checkpoint_interval": 0.05},
        batch_size=50,
    )
    assert await run(app) == 0
    assert source.acked() == 20_000
    assert processor.state.get("a") is None  # unbound after stop; the checkpoint has them
    assert pipeline.metrics()["aggregated"] == 20_000


async def test_checkpoint_every_n_events_acknowledges_while_running():
    app, pipeline, source, _processor, _sink = build(
        records_of({"p0": range(1000)}),
        config={"checkpoint_interval": 3600, "checkpoint_events": 100},
    )
    await app.start()
    await asyncio.wait_for(_until(lambda: source.acked() >= 900), 5)
    assert pipeline.checkpointer.written >= 2  # several, each once ~100 events came
    assert await app.stop() == 0
    assert source.acked() == 1000


async def test_state_restored_from_the_last_checkpoint_on_restart():
    backend = MemoryBackend()
    app, *_ = build(records_of({"p0": range(30)}), backend=backend)
    assert await run(app) == 0
    app, _pipeline, _source, _processor, _sink = build(
        records_of({"p0": range(30, 60)}), backend=backend
    )
    assert await run(app) == 0
    assert counts(backend) == {"p0": {"a": 20, "b": 20, "c": 20}}


async def test_replayed_events_already_in_the_state_are_not_counted_twice():
    backend = MemoryBackend()
    app, *_ = build(records_of({"p0": range(50), "p1": range(20)}), backend=backend)
    assert await run(app) == 0
    # the source's committed position lagged the checkpoint: it delivers 35.. and 10.. again,
    # with batch boundaries that straddle the checkpointed position
    app, _pipeline, source, _processor, _sink = build(
        records_of({"p0": range(35, 80), "p1": range(10, 20)}), backend=backend, batch_size=7
    )
    assert await run(app) == 0
    clean = build(records_of({"p0": range(80), "p1": range(20)}))
    assert counts(backend) == {
        "p0": {"a": 27, "b": 27, "c": 26},
        "p1": {"a": 7, "b": 7, "c": 6},
    }
    assert source.acked() == 55  # replayed events are done too
    del clean


async def test_pass_through_processor_replays_drop_by_default_and_can_be_overridden():
    class CountPassReplay(CountAndPass):
        def replay(self, context, event):
            return (event, "replayed")

    backend = MemoryBackend()
    app, *_ = build(records_of({"p0": range(6)}), CountPassReplay, backend=backend)
    assert await run(app) == 0
    app, _pipeline, _source, _processor, sink = build(
        records_of({"p0": range(3, 9)}), CountPassReplay, backend=backend
    )
    assert await run(app) == 0
    assert sink.events == [
        ("a", "replayed"),
        ("b", "replayed"),
        ("c", "replayed"),
        ("a", 3),
        ("b", 3),
        ("c", 3),
    ]


async def test_output_not_written_holds_the_checkpoint_back():
    # a pass-through stateful processor's output is pending in the sink: the checkpoint waits,
    # so a checkpointed position never covers an event whose output might be lost
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"checkpoint_interval": 3600})
    source = PositionedSource(app, pipeline, records_of({"p0": range(10)}))
    gate_open = asyncio.Event()

    class GateSink(pump.Sink):
        async def _write(self):
            await gate_open.wait()

        def write(self, events, contexts):
            return self._write()

    pipeline.build(source, CountAndPass(app, pipeline), GateSink(app, pipeline))
    app.add_pipeline(pipeline)
    await app.start()
    await asyncio.sleep(0.01)
    assert await pipeline.checkpoint(timeout=0.1) is False  # the output is not written yet
    assert source.acknowledged == []
    gate_open.set()
    assert await pipeline.checkpoint(timeout=1) is True
    assert source.acked() == 10
    assert await app.stop() == 0


async def test_emit_from_state_sends_events_after_the_processor():
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

    app, _pipeline, source, _processor, sink = build(records_of({"p0": range(15)}), EmitOnFive)
    assert await run(app) == 0
    assert sorted(sink.events, key=lambda e: e["key"]) == [
        {"key": "a", "count": 5},
        {"key": "b", "count": 5},
        {"key": "c", "count": 5},
    ]
    assert source.acked() == 15


def test_state_outside_a_pipeline_is_a_plain_keyed_store():
    app = pump.Application()
    processor = CountPerKey(app)
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
