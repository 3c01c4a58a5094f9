"""End-to-end acknowledgement: nothing is acknowledged before it is done, nothing is lost."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

import pump
from pump.delivery import PositionTrail


class FlakySink(pump.Sink):
    """Fails every `every`-th write call, whole; records what it wrote."""

    def __init__(self, app, pipeline, every=7):
        super().__init__(app, pipeline)
        self.every = every
        self.calls = 0
        self.failed_events: list[int] = []
        self.written: list[int] = []

    async def _write(self, events):
        await asyncio.sleep(0)
        self.calls += 1
        if self.calls % self.every == 0:
            self.failed_events.extend(e["seq"] for e in events)
            raise OSError(f"write {self.calls} failed")
        self.written.extend(e["seq"] for e in events)

    def write(self, events, contexts):
        return self._write(events)


async def test_sink_failing_every_7th_write_loses_nothing(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.001})
    events = [{"seq": i} for i in range(2000)]
    source = kit.RecordingSource(app, pipeline, events, batch_size=13)
    sink = FlakySink(app, pipeline, every=7)
    pipeline.build(source, kit.Identity(app, pipeline), sink)
    app.add_pipeline(pipeline)

    assert await kit.run_app(app) == 0

    assert sink.failed_events, "the sink should have failed some writes"
    assert sorted(set(sink.written)) == list(range(2000))  # every event arrived
    assert set(sink.failed_events) <= set(sink.written)  # each failed event came again
    assert source.acknowledged_count() == 2000
    assert source.rejected == []
    m = pipeline.metrics()
    assert m["events_out"] == len(sink.written)
    failed_writes = sink.calls // 7
    assert m["warnings"] == failed_writes == m["components"][sink.Id]["warnings"]


async def test_batch_acknowledged_only_after_sink_confirms(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(30)], batch_size=10)
    sink = kit.GateSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    for _ in range(20):
        await asyncio.sleep(0)
    assert source.emitted == 30
    assert source.acknowledged == []  # the sink has not confirmed anything yet
    assert pipeline.in_flight == 30
    sink.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(source.acknowledged) == [(0, 10), (10, 20), (20, 30)]
    assert pipeline.in_flight == 0
    assert await app.stop() == 0


async def test_dropped_events_are_acknowledged(kit):
    class DropOdd(pump.Processor):
        def process(self, context, event):
            return event if event["seq"] % 2 == 0 else None

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(100)])
    sink = kit.CollectSink(app, pipeline)
    drop = DropOdd(app, pipeline, "drop")
    pipeline.build(source, drop, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [e["seq"] for e in sink.events] == list(range(0, 100, 2))
    assert source.acknowledged_count() == 100
    m = pipeline.metrics()
    assert m["dropped"] == 50 and m["events_out"] == 50
    assert m["components"]["drop"]["dropped"] == 50
    assert m["components"]["drop"]["events_in"] == 100


async def test_fan_out_done_when_all_children_done(kit):
    class Split(pump.Generator):
        async def generate(self, context, event, depth):
            for part in event["parts"]:
                await asyncio.sleep(0)
                self.Pipeline.inject(context, {"part": part}, depth)

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(
        app, pipeline, [{"parts": [1, 2, 3]}, {"parts": [4]}, {"parts": []}], batch_size=3
    )
    sink = kit.GateSink(app, pipeline)
    pipeline.build(source, Split(app, pipeline, "split"), kit.Identity(app, pipeline), sink)
    app.add_pipeline(pipeline)
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0)
    assert source.acknowledged == []  # children are not written yet
    sink.gate.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert sorted(e["part"] for e in sink.events) == [1, 2, 3, 4]
    assert source.acknowledged == [(0, 3)]
    assert pipeline.metrics()["components"]["split"]["events_out"] == 4
    assert await app.stop() == 0


async def test_partial_write_retries_only_failed_events(kit):
    class HalfFails(pump.Sink):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline)
            self.written: list[int] = []
            self.attempts = 0

        def write(self, events, contexts):
            self.attempts += 1
            errors = {}
            for i, e in enumerate(events):
                if e["seq"] % 2 and self.attempts == 1:
                    errors[i] = ValueError("odd rejected once")
                else:
                    self.written.append(e["seq"])
            if errors:
                raise pump.PartialWriteError(errors)

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.001})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(10)], batch_size=10)
    sink = HalfFails(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert sorted(sink.written) == list(range(10))  # no duplicates: only failed ones retried
    assert sink.attempts == 2
    assert source.acknowledged == [(0, 10)]


def test_commit_tracker_commits_highest_contiguous_done_offset():
    t = pump.CommitTracker()
    a = t.begin("p0", 0, 9)
    b = t.begin("p0", 10, 19)
    c = t.begin("p0", 20, 29)
    d = t.begin("p1", 5, 5)
    t.end(b)  # done out of order: nothing committable yet on p0
    assert t.committable() == {}
    t.end(d)
    assert t.committable() == {"p1": 6}
    t.end(a)  # a and b done → position past b, never past c
    assert t.committable() == {"p0": 20}
    assert t.in_flight("p0") == 1
    t.end(c)
    assert t.committable() == {"p0": 30}
    assert t.committable() == {}  # only changes are reported
    t.forget("p0")
    assert t.position("p0") is None


@pytest.mark.parametrize("batch_size", [1, 7])
async def test_per_event_contexts_reach_the_sink(kit, batch_size):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(
        app, pipeline, [{"seq": i} for i in range(20)], batch_size, per_event_context=True
    )
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, kit.Identity(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [c["index"] for c in sink.contexts] == list(range(20))


def test_commit_tracker_peek_does_not_consume():
    t = pump.CommitTracker()
    t.end(t.begin("p", 0, 4))
    assert t.peek() == {"p": 5}
    assert t.committable() == {"p": 5}  # still reported once after a peek
    assert t.committable() == {} and t.peek() == {"p": 5}


def test_position_trail_saves_the_position_of_the_done_prefix_only() -> None:
    trail = PositionTrail()
    first = trail.hand_over(3, "t3")
    second = trail.hand_over(2, None)  # a run that moves nothing
    assert trail.hand_over(0, "t5") is None  # no events: only a position
    third = trail.hand_over(4, "t9")
    assert first is not None and second is not None and third is not None
    assert trail.done(third) is None  # done out of order: the runs before are not
    assert trail.done(second) is None
    assert trail.done(first) == "t9"  # now all of them: the furthest position
    assert trail.reach("t10")  # nothing in flight: it may be saved at once
    fourth = trail.hand_over(1, None)
    assert fourth is not None
    assert not trail.reach("t11")  # in flight: the last run reaches it once done
    assert trail.done(fourth) == "t11"


class Event(dict):
    """A dict that can be weakly referenced (to see who still holds it)."""


class StandInSink(pump.Sink):
    """Keeps its failed events itself: writes ("record", seq) stand-ins, and hands them back
    from a failed write (`hand_back=False`: breaks that promise). Fails its first `fail`
    writes; `gate` holds the first write until set."""

    keeps_failed_events = True

    def __init__(self, app, pipeline, fail=1, hand_back=True):
        super().__init__(app, pipeline, "stand_in")
        self.fail = fail
        self.hand_back = hand_back
        self.gate = asyncio.Event()
        self.calls: list[list[tuple[str, int]]] = []
        self.written: list[tuple[str, int]] = []
        self.given_stand_ins: list[list[tuple[str, int]]] = []  # writes given stand-ins

    def write(self, events, contexts):
        if type(events[0]) is tuple:
            self.given_stand_ins.append(events)
        return self._write([e if type(e) is tuple else ("record", e["seq"]) for e in events])

    async def _write(self, records):
        await self.gate.wait()
        self.calls.append(records)
        if len(self.calls) <= self.fail:
            if not self.hand_back:
                raise OSError("disk full")
            errors = {i: OSError("disk full") for i in range(len(records))}
            raise pump.PartialWriteError(errors, dict(enumerate(records)))
        self.written.extend(records)

    def event_of(self, handed_back):
        return {"seq": handed_back[1], "decoded": True}


async def test_a_sink_keeping_its_failed_events_gets_its_records_retried_not_the_events(kit):
    class FreshEventsSource(kit.RecordingSource):
        """Emits `n` new `Event`s in batches of 10 and keeps only weak references to them."""

        def __init__(self, app, pipeline, n):
            super().__init__(app, pipeline, [], batch_size=10)
            self.n = n
            self.refs: list[weakref.ref] = []

        async def main(self):
            for start in range(0, self.n, 10):
                chunk = [Event(seq=i) for i in range(start, start + 10)]
                self.refs.extend(map(weakref.ref, chunk))
                await self.emit(chunk, {"source": self.Id}, token=(start, start + 10))
                del chunk
                self.emitted += 10

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.001})
    source = FreshEventsSource(app, pipeline, 30)
    sink = StandInSink(app, pipeline, fail=1)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    for _ in range(20):
        await asyncio.sleep(0)
    assert source.emitted == 30 and pipeline.in_flight == 30  # all three writes pending
    gc.collect()
    # the pipeline let go of the events once write() returned: only the sink's records remain
    assert [r for r in source.refs if r() is not None] == []
    sink.gate.set()
    for _ in range(500):
        if len(source.acknowledged) == 3:
            break
        await asyncio.sleep(0.01)
    assert sorted(sink.written) == [("record", i) for i in range(30)]  # each once
    assert sink.given_stand_ins == [sink.calls[0]]  # the retry: what the failed write handed back
    assert sorted(source.acknowledged) == [(0, 10), (10, 20), (20, 30)]
    assert pipeline.metrics()["events_out"] == 30
    assert await app.stop() == 0


async def test_what_a_sink_hands_back_reaches_the_error_policy_as_the_event_it_stands_for(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter", "sink_retries": 0})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(3)], batch_size=3)
    sink = StandInSink(app, pipeline, fail=1)
    sink.gate.set()
    pipeline.build(source, sink)
    pipeline.set_dead_letter(dead := kit.CollectSink(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [r["event"] for r in dead.events] == [{"seq": i, "decoded": True} for i in range(3)]
    assert {r["component"] for r in dead.events} == {"stand_in"}
    assert source.acknowledged == [(0, 3)]


async def test_a_sink_that_fails_without_handing_back_its_events_stops_the_pipeline(kit):
    """Nothing left to retry from: the batch is not acknowledged, the error names the sink."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.001})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(3)], batch_size=3)
    sink = StandInSink(app, pipeline, fail=1, hand_back=False)
    sink.gate.set()
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 1
    assert source.acknowledged == [] and source.rejected == [(0, 3)]
    assert len(sink.calls) == 1  # not retried: there was nothing to retry
    error = pipeline.error
    assert error is not None and error.component == "stand_in"
    assert "failed a write without handing back its events" in str(error.error)
    assert "OSError: disk full" in str(error.error)
