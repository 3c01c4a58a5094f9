"""Helpers of the state tests: a source with positions (as Kafka's), counting processors."""

from __future__ import annotations

import asyncio
import types

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
    return {
        part: backend.values(proc, part)
        for proc, part in backend.partitions()
        if proc == processor and backend.values(proc, part)
    }


async def run(app, timeout=10.0):
    return await asyncio.wait_for(app.main(), timeout)


def records_of(partitions: dict[str, range], keys=("a", "b", "c")):
    return [(p, o, keys[o % len(keys)]) for p, offsets in partitions.items() for o in offsets]


@pytest.fixture
def statekit():
    return types.SimpleNamespace(
        PositionedSource=PositionedSource,
        CountPerKey=CountPerKey,
        CountAndPass=CountAndPass,
        build=build,
        counts=counts,
        run=run,
        records_of=records_of,
    )
