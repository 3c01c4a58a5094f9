"""Pipeline.pause() / resume(): the sources stop handing over, in-flight events finish; state."""

from __future__ import annotations

import asyncio

import pump
from pump.testing import CollectingSink, wait_until


class Endless(pump.Source):
    async def main(self):
        n = 0
        while True:
            await self.emit([n])
            n += 1
            await asyncio.sleep(0)


async def test_pause_stops_hand_overs_and_resume_starts_them_again():
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 100})
    sink = CollectingSink(app, pipeline)
    pipeline.build(Endless(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert pipeline.state == "stopped"
    await app.start()
    try:
        assert await wait_until(lambda: len(sink.events) > 10, 5)
        assert pipeline.state == "running" and not pipeline.paused
        pipeline.pause()
        assert pipeline.paused and pipeline.state == "paused"
        assert pipeline.metrics()["throttled_by"] == ["paused"]
        await asyncio.sleep(0.05)
        assert pipeline.in_flight == 0  # what was handed over was finished
        count = len(sink.events)
        await asyncio.sleep(0.2)
        assert len(sink.events) == count
        pipeline.resume()
        assert await wait_until(lambda: len(sink.events) > count + 10, 5)
        assert pipeline.state == "running"
        sink.block()
        assert await wait_until(lambda: pipeline.state == "throttled", 5)  # full: waiting
        sink.release()
    finally:
        await app.stop(timeout=2)
    assert pipeline.state == "stopped"


async def test_pause_and_throttling_are_independent(kit):
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(kit.RecordingSource(app, pipeline, []), kit.CollectSink(app, pipeline))
    app.add_pipeline(pipeline)
    await app.start()
    try:
        pipeline.throttle("router", True)
        pipeline.pause()
        pipeline.throttle("router", False)
        assert not pipeline.is_ready()  # still paused
        pipeline.resume()
        assert pipeline.is_ready()
    finally:
        await app.stop(timeout=2)
