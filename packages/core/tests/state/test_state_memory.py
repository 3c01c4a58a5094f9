"""Memory stays bounded: 5,000,000 events over 100,000 keys into SQLite-checkpointed state keep
the process's RSS flat once every key exists, and what waits for a checkpoint stays bounded."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.testing.state import state_totals

psutil = pytest.importorskip("psutil")

EVENTS = 5_000_000
KEYS = 100_000
BATCH = 1000


class KeySource(pump.Source):
    """Hands over the keys round-robin, a batch at a time; samples RSS and held batches."""

    def __init__(self, app, pipeline):
        super().__init__(app, pipeline, "keys")
        self.rss: list[tuple[int, int]] = []
        self.held_most = 0
        self.acknowledged = 0

    async def main(self):
        keys = [f"key-{i}" for i in range(KEYS)]
        process = psutil.Process()
        for sent in range(0, EVENTS, BATCH):
            start = sent % KEYS
            await self.emit(keys[start : start + BATCH], {"source": "keys"}, token=BATCH)
            if sent % 250_000 == 0:
                self.rss.append((sent, process.memory_info().rss))
                held = len(self.Pipeline.checkpointer._epoch)
                self.held_most = max(self.held_most, held)
                await asyncio.sleep(0)

    def acknowledge(self, batch):
        self.acknowledged += batch.token


async def test_rss_stays_flat_over_five_million_events(tmp_path):
    app = pump.Application()
    pipeline = pump.Pipeline(
        app,
        "p",
        config={"state_dir": str(tmp_path), "checkpoint_interval": 0.5, "max_in_flight": 5000},
    )
    source = KeySource(app, pipeline)
    counter = pump.testing.state.KeyCounter(app, pipeline, "counter")
    pipeline.build(source, counter, pump.common.null.NullSink(app, pipeline))
    app.add_pipeline(pipeline)
    assert await asyncio.wait_for(app.main(), 600) == 0

    assert source.acknowledged == EVENTS
    totals = state_totals(tmp_path, "counter")
    assert len(totals) == KEYS and set(totals.values()) == {EVENTS // KEYS}
    warm = [rss for sent, rss in source.rss if sent >= 1_000_000]  # every key exists by then
    growth = (max(warm) - warm[0]) / 2**20
    print(
        f"RSS MiB at 1M, 5M events: {warm[0] / 2**20:.1f}, {warm[-1] / 2**20:.1f}; "
        f"most held batches {source.held_most}"
    )
    assert growth < 16, f"RSS grew {growth:.1f} MiB after the first million events"
    # at most two checkpoints' worth of batches wait (checkpoint_events = 100,000 events)
    assert source.held_most <= 2 * 100_000 // BATCH + 1
