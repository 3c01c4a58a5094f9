"""Bounded memory: a slow sink makes sources wait; in-flight never exceeds the bound."""

from __future__ import annotations

import asyncio
import itertools

import psutil

import pump


class EndlessSource(pump.Source):
    """Makes events on demand (nothing pre-built), `total` of them, in batches."""

    def __init__(self, app, pipeline, total, batch_size):
        super().__init__(app, pipeline)
        self.total = total
        self.batch_size = batch_size
        self.waits = 0

    async def main(self):
        it = ({"seq": i, "payload": "x" * 100} for i in range(self.total))
        while events := list(itertools.islice(it, self.batch_size)):
            if not self.Pipeline.is_ready():
                self.waits += 1
            await self.emit(events)


class SlowSink(pump.Sink):
    """Writes one batch at a time, taking `delay` seconds per batch."""

    def __init__(self, app, pipeline, delay):
        super().__init__(app, pipeline)
        self.delay = delay
        self.lock = asyncio.Lock()
        self.count = 0
        self.max_in_flight = 0
        self.rss: list[int] = []
        self.process = psutil.Process()

    async def _write(self, events):
        async with self.lock:
            self.max_in_flight = max(self.max_in_flight, self.Pipeline.in_flight)
            await asyncio.sleep(self.delay)
            self.count += len(events)
            if self.count % 50_000 < len(events):
                self.rss.append(self.process.memory_info().rss)

    def write(self, events, contexts):
        return self._write(events)


async def test_slow_sink_bounds_in_flight_and_memory(kit):
    bound, batch = 2_000, 500
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": bound})
    source = EndlessSource(app, pipeline, total=500_000, batch_size=batch)
    sink = SlowSink(app, pipeline, delay=0.0005)
    pipeline.build(source, kit.Identity(app, pipeline), sink)
    app.add_pipeline(pipeline)

    assert await kit.run_app(app, timeout=120) == 0

    assert sink.count == 500_000
    assert source.waits > 100  # the source really was held back
    assert bound - batch <= sink.max_in_flight <= bound + batch
    # RSS after the first 100k events vs at the end: flat (no growth with event count)
    growth = sink.rss[-1] - sink.rss[1]
    assert growth < 20 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 400k events"


async def test_throttle_pauses_sources_until_released(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(30)], batch_size=10)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    pipeline.throttle("maintenance", True)
    await app.start()
    for _ in range(20):
        await asyncio.sleep(0)
    assert source.emitted == 0 and not pipeline.is_ready()
    assert pipeline.metrics()["throttled_by"] == ["'maintenance'"]
    pipeline.throttle("maintenance", False)
    for _ in range(20):
        await asyncio.sleep(0)
    assert source.emitted == 30 and len(sink.events) == 30
    assert await app.stop() == 0


async def test_linked_pipeline_is_throttled_too(kit):
    app = pump.Application()
    upstream = pump.Pipeline(app, "up")
    downstream = pump.Pipeline(app, "down")
    downstream.link(upstream)
    downstream.throttle("slow", True)
    assert "slow" in upstream._throttles
    downstream.throttle("slow", False)
    assert not upstream._throttles


def test_pipelines_linked_in_a_cycle_are_throttled_and_released_once():
    app = pump.Application()
    a, b = pump.Pipeline(app, "a"), pump.Pipeline(app, "b")
    a.link(b)  # b feeds a, and a feeds b (tees both ways)
    b.link(a)
    a.throttle("full", True)  # recursed until the stack ran out
    assert a.metrics()["throttled_by"] == b.metrics()["throttled_by"] == ["'full'"]
    b.throttle("full", False)
    assert a.metrics()["throttled_by"] == b.metrics()["throttled_by"] == []
