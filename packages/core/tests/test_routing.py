"""Routing between pipelines keeps end-to-end delivery and backpressure."""

from __future__ import annotations

import asyncio
import sys

import pytest

import pump
from pump.routing import InternalSource, RouterSink, TeeProcessor
from pump.state.position import StreamPosition


class ByParity(RouterSink):
    def route(self, context, event):
        return "even" if event["seq"] % 2 == 0 else "odd"


def downstream(app, kit, pid, sink=None, config=None):
    pipeline = pump.Pipeline(app, pid, config=config)
    sink = sink or kit.CollectSink(app, pipeline)
    pipeline.build(InternalSource(app, pipeline, "in"), sink)
    app.add_pipeline(pipeline)
    return pipeline, sink


async def test_router_splits_and_upstream_acks_after_downstream_done(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(20)], batch_size=10)
    up.build(source, ByParity(app, up, "router"))
    app.add_pipeline(up)
    even_pipeline = pump.Pipeline(app, "even")
    gate = kit.GateSink(app, even_pipeline)
    even_pipeline.build(InternalSource(app, even_pipeline, "in"), gate)
    app.add_pipeline(even_pipeline)
    _, odd = downstream(app, kit, "odd")

    await app.start()
    for _ in range(100):
        await asyncio.sleep(0.001)
    assert [e["seq"] for e in odd.events] == list(range(1, 20, 2))
    assert source.acknowledged == []  # even events are still waiting in the gated sink
    gate.gate.set()
    for _ in range(100):
        await asyncio.sleep(0.001)
    assert sorted(e["seq"] for e in gate.events) == list(range(0, 20, 2))
    assert sorted(source.acknowledged) == [(0, 10), (10, 20)]
    assert await app.stop() == 0


async def test_chain_of_pipelines_finishes_by_itself(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(100)], batch_size=7)
    up.build(source, RouterSink(app, up, "to-mid", config={"target": "mid"}))
    app.add_pipeline(up)
    mid = pump.Pipeline(app, "mid")
    mid.build(InternalSource(app, mid, "in"), RouterSink(app, mid, config={"target": "end.*in"}))
    app.add_pipeline(mid)
    _, sink = downstream(app, kit, "end")
    assert await kit.run_app(app) == 0
    assert sorted(e["seq"] for e in sink.events) == list(range(100))
    assert source.acknowledged_count() == 100


async def test_full_internal_queue_throttles_upstream_without_queue_full(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up", config={"max_in_flight": 100_000})
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(5_000)], batch_size=50)
    up.build(source, RouterSink(app, up, config={"target": "down"}))
    app.add_pipeline(up)
    down = pump.Pipeline(app, "down", config={"max_in_flight": 100})
    gate = kit.GateSink(app, down)
    down.build(InternalSource(app, down, "in", config={"queue_max_size": 200}), gate)
    app.add_pipeline(down)

    await app.start()
    for _ in range(50):
        await asyncio.sleep(0.001)
    # downstream is stuck at its bound; its queue filled to its limit and throttled upstream
    assert not up.is_ready()
    assert source.emitted <= 100 + 200 + 2 * 50
    gate.gate.set()
    await asyncio.wait_for(_until(lambda: source.acknowledged_count() == 5_000), 10)
    assert sorted(e["seq"] for e in gate.events) == list(range(5_000))
    assert await app.stop() == 0


async def test_downstream_failure_rejects_upstream_batch(kit):
    class Fails(pump.Processor):
        def process(self, context, event):
            if event["seq"] == 3:
                raise ValueError("bad seq")
            return event

    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(10)], batch_size=5)
    up.build(source, RouterSink(app, up, config={"target": "down"}))
    app.add_pipeline(up)
    down = pump.Pipeline(app, "down")
    down.build(InternalSource(app, down, "in"), Fails(app, down), kit.CollectSink(app, down))
    app.add_pipeline(down)
    assert await kit.run_app(app) == 1
    assert (0, 5) in source.rejected and (0, 5) not in source.acknowledged


async def test_tee_copies_and_waits_for_both(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(10)], batch_size=10)
    main_sink = kit.CollectSink(app, up)

    class Mark(pump.Processor):
        def process(self, context, event):
            event["main"] = True
            return event

    up.build(source, TeeProcessor(app, up, config={"target": "copy"}), Mark(app, up), main_sink)
    app.add_pipeline(up)
    copy_pipeline = pump.Pipeline(app, "copy")
    gate = kit.GateSink(app, copy_pipeline)
    copy_pipeline.build(InternalSource(app, copy_pipeline), gate)
    app.add_pipeline(copy_pipeline)
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0.001)
    assert len(main_sink.events) == 10 and source.acknowledged == []
    gate.gate.set()
    await asyncio.wait_for(_until(lambda: source.acknowledged == [(0, 10)]), 5)
    assert all("main" not in e for e in gate.events)  # deep copies, unaffected downstream
    assert await app.stop() == 0


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.001)


async def test_size_only_aggregator_behind_routing_lets_a_finite_run_end(kit):
    from pump.common import Aggregator

    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(10)], batch_size=3)
    up.build(source, RouterSink(app, up, config={"target": "down"}))
    app.add_pipeline(up)
    down = pump.Pipeline(app, "down")
    sink = kit.CollectSink(app, down)
    aggregator = Aggregator(app, down, config={"completion_size": 1000})
    down.build(InternalSource(app, down, "in"), aggregator, sink)
    app.add_pipeline(down)
    assert await kit.run_app(app, timeout=5) == 0
    assert [[e["seq"] for e in agg] for agg in sink.events] == [list(range(10))]
    assert source.acknowledged_count() == 10
    assert down.metrics()["aggregated"] == 10 and down.metrics()["dropped"] == 0


async def test_end_of_upstream_source_wakes_downstream_aggregator_at_once(kit, monkeypatch):
    # the poll and the 1 s application tick are the slow ways to notice the end: with the poll
    # off, the aggregate must still come out before the first tick, woken by the source's end
    from pump.common import Aggregator, aggregator

    monkeypatch.setattr(aggregator, "_UPSTREAM_POLL", 60.0)
    app = pump.Application()
    ticks: list[int] = []
    app.PubSub.subscribe("Application.tick!", lambda *_: ticks.append(1))
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(10)], batch_size=4)
    up.build(source, TeeProcessor(app, up, config={"target": "down"}), kit.CollectSink(app, up))
    app.add_pipeline(up)
    down = pump.Pipeline(app, "down")
    sink = kit.CollectSink(app, down)
    internal = InternalSource(app, down, "in")
    down.build(internal, Aggregator(app, down, config={"completion_size": 1000}), sink)
    app.add_pipeline(down)
    woken: list[int] = []
    internal.watch_upstreams(lambda: woken.append(1))
    assert await kit.run_app(app, timeout=5) == 0
    assert [[e["seq"] for e in agg] for agg in sink.events] == [list(range(10))]
    assert ticks == [] and woken
    assert source.acknowledged_count() == 10


async def test_tee_hands_over_the_copies_of_a_batch_together(kit):
    class Writes(kit.CollectSink):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline)
            self.sizes = []

        def write(self, events, contexts):
            self.sizes.append(len(events))
            super().write(events, contexts)

    class Uncopyable:
        def __deepcopy__(self, memo):
            raise TypeError("cannot copy")

    app = pump.Application()
    up = pump.Pipeline(app, "up", config={"on_error": "skip"})
    events = [{"seq": i} for i in range(30)] + [{"seq": 30, "x": Uncopyable()}]
    source = kit.RecordingSource(app, up, events, batch_size=10)
    up.build(source, TeeProcessor(app, up, config={"target": "copy"}), kit.CollectSink(app, up))
    app.add_pipeline(up)
    down = pump.Pipeline(app, "copy")
    writes = Writes(app, down)
    down.build(InternalSource(app, down), writes)
    app.add_pipeline(down)
    assert await kit.run_app(app) == 0
    assert writes.sizes == [10, 10, 10]  # one hand-over per upstream batch, not per event
    assert source.acknowledged_count() == 31  # the uncopyable event was skipped, not stuck


async def test_an_internal_source_nothing_feeds_says_so_once_the_rest_has_finished(kit, caplog):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    up.build(kit.RecordingSource(app, up, [{"seq": 1}]), kit.CollectSink(app, up))
    app.add_pipeline(up)
    _, unfed = downstream(app, kit, "unfed")
    await app.start()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if "waits for events put by code" in caplog.text:
            break
    warnings = [r.getMessage() for r in caplog.records if "waits for events" in r.getMessage()]
    assert len(warnings) == 1 and "pipeline 'unfed' component 'in'" in warnings[0]
    # it still takes events put by code: the warning does not end or close it
    app.Pipelines["unfed"].Sources[0].put({}, {"seq": 2})
    for _ in range(50):
        await asyncio.sleep(0.01)
        if unfed.events:
            break
    assert unfed.events == [{"seq": 2}]
    assert await app.stop() == 0


async def test_a_fed_internal_source_does_not_warn(kit, caplog):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(5)])
    up.build(source, RouterSink(app, up, config={"target": "down"}))
    app.add_pipeline(up)
    _, sink = downstream(app, kit, "down")
    assert await kit.run_app(app) == 0
    assert len(sink.events) == 5
    assert "waits for events put by code" not in caplog.text


async def test_a_sharing_tee_hands_over_the_events_themselves(kit):
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    events = [{"seq": i} for i in range(10)]
    source = kit.RecordingSource(app, up, events, batch_size=4)
    main_sink = kit.CollectSink(app, up)
    tee = TeeProcessor(app, up, config={"target": "other", "share": True})
    up.build(source, tee, main_sink)
    app.add_pipeline(up)
    _, copies = downstream(app, kit, "other")
    assert await kit.run_app(app) == 0
    assert sorted(e["seq"] for e in copies.events) == list(range(10))
    by_seq = {e["seq"]: e for e in main_sink.events}
    assert all(e is by_seq[e["seq"]] for e in copies.events)  # not copies
    context_of = {e["seq"]: c for e, c in zip(main_sink.events, main_sink.contexts, strict=True)}
    assert all(
        c is context_of[e["seq"]] for e, c in zip(copies.events, copies.contexts, strict=True)
    )  # the contexts too
    assert sorted(source.acknowledged) == [(0, 4), (4, 8), (8, 10)]


async def test_a_sharing_tee_copies_contexts_a_later_processor_writes(kit):
    class Stamp(pump.Processor):
        writes_context = True

        def process(self, context, event):
            context["stamped"] = True
            return event

    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(4)], per_event_context=True)
    main_sink = kit.CollectSink(app, up)
    up.build(source, TeeProcessor(app, up, config={"target": "other", "share": True}), main_sink)
    app.add_pipeline(up)
    other = pump.Pipeline(app, "other")
    copies = kit.CollectSink(app, other)
    other.build(InternalSource(app, other, "in"), Stamp(app, other, "stamp"), copies)
    app.add_pipeline(other)
    assert await kit.run_app(app) == 0
    assert all(c.get("stamped") for c in copies.contexts)
    assert not any("stamped" in c for c in main_sink.contexts)  # its own were not written


class Trail(pump.Processor):
    """Notes (pipeline, seq) of every event it sees in a shared list."""

    def __init__(self, app, pipeline, trail):
        super().__init__(app, pipeline, "trail")
        self.trail = trail

    def process(self, context, event):
        self.trail.append((self.Pipeline.Id, event["seq"]))
        return event


async def test_a_tees_copies_go_downstream_right_after_their_batch(kit):
    # while the events are still in the CPU's cache: each batch's copies are through the
    # downstream pipeline before the source's next batch starts, even back to back
    trail: list[tuple[str, int]] = []
    app = pump.Application()
    up = pump.Pipeline(app, "up")
    source = kit.RecordingSource(app, up, [{"seq": i} for i in range(9)], batch_size=3)
    up.build(
        source,
        Trail(app, up, trail),
        TeeProcessor(app, up, config={"target": "down", "share": True}),
        kit.CollectSink(app, up),
    )
    app.add_pipeline(up)
    down = pump.Pipeline(app, "down")
    sink = kit.CollectSink(app, down)
    down.build(InternalSource(app, down), Trail(app, down, trail), sink)
    app.add_pipeline(down)
    assert await kit.run_app(app) == 0
    batches = [trail[i : i + 6] for i in range(0, 18, 6)]
    assert batches == [
        [("up", s) for s in range(b, b + 3)] + [("down", s) for s in range(b, b + 3)]
        for b in (0, 3, 6)
    ]
    assert [e["seq"] for e in sink.events] == list(range(9))
    assert source.acknowledged_count() == 9


@pytest.mark.parametrize("hops", [100, 400])
async def test_tees_in_a_cycle_hand_over_and_acknowledge_without_recursion(kit, hops):
    # a → b → a ...: a copy dispatched at once hands its own copies over through the queue;
    # the last hop's acknowledgement goes back through every hop without growing the stack
    depths = []

    class Hop(pump.Processor):
        def process(self, context, event):
            depth, frame = 0, sys._getframe()
            while frame is not None:
                depth, frame = depth + 1, frame.f_back
            depths.append(depth)
            return {"seq": event["seq"], "hops": event["hops"] + 1}

    class Until(pump.Processor):
        def process(self, context, event):
            return event if event["hops"] < hops else None

    app = pump.Application()
    a = pump.Pipeline(app, "a")
    b = pump.Pipeline(app, "b")
    sink = kit.CollectSink(app, b)
    source = kit.RecordingSource(app, a, [{"seq": i, "hops": 0} for i in range(4)], batch_size=2)
    a.build(source, TeeProcessor(app, a, config={"target": "b"}), kit.CollectSink(app, a))
    b.build(
        InternalSource(app, b),
        Hop(app, b, "hop"),
        Until(app, b, "until"),
        TeeProcessor(app, b, "back", config={"target": "a-loop"}),
        sink,
    )
    loop = pump.Pipeline(app, "a-loop")
    loop.build(
        InternalSource(app, loop),
        TeeProcessor(app, loop, config={"target": "b"}),
        kit.CollectSink(app, loop),
    )
    for p in (a, b, loop):
        app.add_pipeline(p)
    await app.start()
    for _ in range(500):  # a cycle never ends by itself: wait for the last hop
        if len(sink.events) == 4 * (hops - 1) and source.acknowledged_count() == 4:
            break
        await asyncio.sleep(0.01)
    assert await app.stop() == 0
    assert sorted((e["seq"], e["hops"]) for e in sink.events) == [
        (seq, hop) for seq in range(4) for hop in range(1, hops)
    ]
    assert max(depths) - min(depths) < 40  # the stack does not grow with the hops
    assert source.acknowledged_count() == 4


async def test_after_dispatch_runs_once_per_registration_when_the_batch_is_through(kit):
    calls: list[tuple[str, int]] = []

    class Registers(pump.Processor):
        def process(self, context, event):
            # twice per event: the callback runs once, after the whole batch
            self.Pipeline.after_dispatch(self.after)
            self.Pipeline.after_dispatch(self.after)
            calls.append(("event", event["seq"]))
            return event

        def after(self):
            calls.append(("after", len(sink.events)))

    app = pump.Application()
    p = pump.Pipeline(app, "p")
    sink = kit.CollectSink(app, p)
    p.build(
        kit.RecordingSource(app, p, [{"seq": i} for i in range(4)], batch_size=2),
        Registers(app, p, "registers"),
        sink,
    )
    app.add_pipeline(p)
    assert await kit.run_app(app) == 0
    assert calls == [
        ("event", 0),
        ("event", 1),
        ("after", 2),
        ("event", 2),
        ("event", 3),
        ("after", 4),
    ]


async def test_partitions_a_source_is_given_reach_the_pipelines_it_routes_to(kit):
    """A window fed by a tee keys its state by the upstream's partitions: it is told of them,
    in every pipeline downstream (a cycle among them included), and of nothing else."""
    told: list[tuple[str, str, list[str]]] = []

    class Watch(pump.Processor):
        def partitions_assigned(self, partitions):
            told.append((self.Pipeline.Id, "assigned", partitions))

        def partitions_revoked(self, partitions):
            told.append((self.Pipeline.Id, "revoked", partitions))

    app = pump.Application(exit_when_finished=False)
    a, b, c, other = (pump.Pipeline(app, name) for name in ("a", "b", "c", "other"))
    a.build(
        kit.RecordingSource(app, a, []),
        Watch(app, a, "watch"),
        TeeProcessor(app, a, config={"target": "b"}),
        kit.CollectSink(app, a),
    )
    for here, there in ((b, "c"), (c, "b")):  # b → c → b
        here.build(
            InternalSource(app, here),
            Watch(app, here, "watch"),
            TeeProcessor(app, here, config={"target": there}),
            kit.CollectSink(app, here),
        )
    other.build(kit.RecordingSource(app, other, []), Watch(app, other), kit.CollectSink(app, other))
    for p in (a, b, c, other):
        app.add_pipeline(p)
    await app.start()
    try:
        await a.assign_partitions(["t[0]"])
        await a.revoke_partitions(["t[0]"])
    finally:
        await app.stop()
    assert told == [
        ("a", "assigned", ["t[0]"]),
        ("b", "assigned", ["t[0]"]),
        ("c", "assigned", ["t[0]"]),
        ("c", "revoked", ["t[0]"]),
        ("b", "revoked", ["t[0]"]),
        ("a", "revoked", ["t[0]"]),
    ]


async def test_a_routed_copy_has_the_stream_position_of_the_events_it_was_made_from(kit):
    class Numbered(kit.RecordingSource):
        def stream_position(self, batch, contexts):
            return StreamPosition("p1", "s", contexts[0]["index"], contexts[-1]["index"], "index")

    seen = []

    class Where(pump.Processor):
        def process_batch(self, contexts, events):
            batch = self.Pipeline.current_batch
            seen.append(batch.source.stream_position(batch, contexts))
            return events

    app = pump.Application()
    a, b = pump.Pipeline(app, "a"), pump.Pipeline(app, "b")
    events = [{"seq": i} for i in range(4)]
    source = Numbered(app, a, events, batch_size=4, per_event_context=True)
    a.build(source, TeeProcessor(app, a, config={"target": "b"}), kit.CollectSink(app, a))
    b.build(InternalSource(app, b), Where(app, b, "where"), kit.CollectSink(app, b))
    app.add_pipeline(a)
    app.add_pipeline(b)
    assert await kit.run_app(app) == 0
    assert seen == [StreamPosition("p1", "s", 0, 3, "index")]
