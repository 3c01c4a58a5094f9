"""State behind routing: a routed copy absorbed into a downstream pipeline's state frees the
upstream pipeline's `max_in_flight` at once; the upstream batch is acknowledged when the
downstream checkpoint holding the copy is durable."""

from __future__ import annotations

import asyncio

import pump
from pump.routing import InternalSource, TeeProcessor
from pump.testing.state import KeyCounter


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.001)


async def test_tee_into_a_stateful_pipeline_does_not_hold_the_upstream_bound(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up", config={"max_in_flight": 100})
    source = kit.RecordingSource(app, up, [f"k{i % 10}" for i in range(5000)], batch_size=50)
    main_sink = kit.CollectSink(app, up)
    up.build(source, TeeProcessor(app, up, config={"target": "counts"}), main_sink)
    app.add_pipeline(up)
    counts = pump.Pipeline(app, "counts", config={"checkpoint_interval": 3600})
    counter = KeyCounter(app, counts, "counter")
    counts.build(InternalSource(app, counts), counter, kit.CollectSink(app, counts))
    app.add_pipeline(counts)
    await app.start()
    # 50 times the upstream bound passes without a checkpoint: the copies are absorbed
    await asyncio.wait_for(_until(lambda: counter.counters.events_in == 5000), 10)
    assert len(main_sink.events) == 5000
    assert up.in_flight == 0 and counts.in_flight == 0
    assert source.acknowledged == []  # but nothing is acknowledged before the checkpoint
    assert await counts.checkpoint() is True
    await asyncio.wait_for(_until(lambda: source.acknowledged_count() == 5000), 5)
    assert dict(counter.state.items()) == {f"k{i}": 500 for i in range(10)}
    assert await app.stop() == 0
