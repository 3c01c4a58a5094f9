"""The window processors in pipelines: output events, late policies, watermarks across
partitions, early results, YAML, and a window longer than max_in_flight."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from reference import DISORDERED, amounts

import pump
from pump.common import IteratorSource, ListSink
from pump.errors import ConfigError
from pump.routing import InternalSource
from pump.state import MemoryBackend
from pump.windows import HoppingWindow, Reducer, SessionWindow, TumblingWindow, Watermarks

EVENTS = amounts([*DISORDERED, (25, "a", 1)])


class WindowPipeline(pump.Pipeline):
    def __init__(
        self,
        app: pump.Application,
        events: list[Any],
        window: type[pump.Processor],
        config: dict[str, Any],
        pipeline_config: dict[str, Any] | None = None,
        batch: int = 1,
    ) -> None:
        super().__init__(app, "windows", config=pipeline_config or {})
        self.out = ListSink(app, self)
        self.window = window(app, self, "window", config=config)
        source = IteratorSource(app, self, iterator=events, config={"batch_size": batch})
        self.build(source, self.window, self.out)


def run(
    events: list[Any], window: type[pump.Processor], config: dict[str, Any], **kw: Any
) -> WindowPipeline:
    app = pump.Application()
    pipeline = app.add_pipeline(WindowPipeline(app, events, window, config, **kw))
    assert app.run() == 0
    return pipeline


def test_tumbling_output_events() -> None:
    p = run(
        EVENTS,
        TumblingWindow,
        {
            "size": "10s",
            "key": "user",
            "time": "ts",
            "out_of_orderness": 2,
            "time_format": "epoch",
            "reduce": {"count": True, "amount": "sum"},
        },
    )
    assert p.out.events == [
        {"key": "a", "start": 0, "end": 10, "count": 2, "amount": 12},
        {"key": "a", "start": 10, "end": 20, "count": 1, "amount": 1},
        {"key": "b", "start": 10, "end": 20, "count": 1, "amount": 2},
        {"key": "a", "start": 20, "end": 30, "count": 1, "amount": 1},
    ]
    counters = p.metrics()["components"]["window"]
    assert counters["late_events"] == 2 and counters["results_emitted"] == 4
    assert counters["aggregated"] == 7


def test_global_hopping_window_iso_times() -> None:
    p = run(EVENTS, HoppingWindow, {"size": 20, "hop": 10, "time": "ts", "out_of_orderness": 100})
    assert p.out.events == [
        {"start": "1969-12-31T23:59:50+00:00", "end": "1970-01-01T00:00:10+00:00", "count": 4},
        {"start": "1970-01-01T00:00:00+00:00", "end": "1970-01-01T00:00:20+00:00", "count": 6},
        {"start": "1970-01-01T00:00:10+00:00", "end": "1970-01-01T00:00:30+00:00", "count": 3},
        {"start": "1970-01-01T00:00:20+00:00", "end": "1970-01-01T00:00:40+00:00", "count": 1},
    ]


def test_session_output() -> None:
    p = run(
        EVENTS,
        SessionWindow,
        {
            "gap": 5,
            "key": "user",
            "time": "ts",
            "out_of_orderness": 100,
            "time_format": "epoch",
            "reduce": {"n": "count", "amount": "max"},
        },
    )
    assert p.out.events == [
        {"key": "a", "start": 1, "end": 8, "n": 2, "amount": 7},
        {"key": "a", "start": 8, "end": 17, "n": 3, "amount": 100},
        {"key": "b", "start": 13, "end": 18, "n": 1, "amount": 2},
        {"key": "a", "start": 25, "end": 30, "n": 1, "amount": 1},
    ]


def test_window_longer_than_max_in_flight_completes() -> None:
    """50,000 events in one window, max_in_flight 1,000: absorbed events do not hold the source."""
    events = [{"ts": 1_700_000_000 + i / 1000, "n": i} for i in range(50_000)]
    p = run(
        events,
        TumblingWindow,
        {"size": "1h", "time": "ts", "reduce": {"count": True, "n": "sum"}},
        pipeline_config={"max_in_flight": 1000},
        batch=100,
    )
    assert [(e["count"], e["n"]) for e in p.out.events] == [(50_000, sum(range(50_000)))]


class SlowStartSink(ListSink):
    """A sink whose start takes a while (it opens a file, a connection...)."""

    async def start(self) -> None:
        await super().start()
        await asyncio.sleep(0.05)


def test_windows_close_when_a_short_input_ends_before_the_window_watched_it() -> None:
    """An input that ends within moments of the start (a few lines) still gets its open
    windows emitted at the end; they were kept in state, unemitted, when the window had not
    yet looked at the source's task."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "windows")
    out = SlowStartSink(app, pipeline)
    window = TumblingWindow(
        app, pipeline, "window", config={"size": 60, "time": "ts", "reduce": {"n": "count"}}
    )
    pipeline.build(IteratorSource(app, pipeline, iterator=EVENTS[:3]), window, out)
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert [(e["start"], e["n"]) for e in out.events] == [("1970-01-01T00:00:00+00:00", 3)]


def test_bad_events_go_to_the_error_policy() -> None:
    events = [
        {"ts": 1, "amount": 1},
        {"amount": 2},
        {"ts": "soon", "amount": 3},
        {"ts": 2, "amount": "x"},
        {"ts": 3, "amount": 4},
    ]
    p = run(
        events,
        TumblingWindow,
        {"size": 10, "time": "ts", "reduce": {"amount": "sum"}, "time_format": "epoch"},
        pipeline_config={"on_error": "skip"},
        batch=5,
    )
    assert p.out.events == [{"start": 0, "end": 10, "amount": 5}]
    errors = [str(e.error) for e in p.errors]
    assert len(errors) == 3
    assert "the event has no field 'ts'" in errors[0] and "window" in errors[0]
    assert "'soon' is not an ISO 8601" in errors[1]
    assert "cannot reduce" in errors[2]


def test_late_events_dead_lettered() -> None:
    app = pump.Application()
    pipeline = WindowPipeline(
        app,
        EVENTS,
        TumblingWindow,
        {"size": 10, "key": "user", "time": "ts", "out_of_orderness": 2, "late": "dead_letter"},
    )
    dead = ListSink(app, pipeline, "dead")
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert [r["event"]["ts"] for r in dead.events] == [9, 8]
    assert all("came after its window had closed" in r["error"] for r in dead.events)
    assert pipeline.dead_lettered == 2


def test_late_events_routed_to_another_pipeline() -> None:
    app = pump.Application()

    class Late(pump.Pipeline):
        def __init__(self, app: pump.Application) -> None:
            super().__init__(app, "late")
            self.out = ListSink(app, self)
            self.build(InternalSource(app, self), self.out)

    late = app.add_pipeline(Late(app))
    app.add_pipeline(
        WindowPipeline(
            app,
            EVENTS,
            TumblingWindow,
            {
                "size": 10,
                "key": "user",
                "time": "ts",
                "out_of_orderness": 2,
                "late": "route",
                "late_target": "late",
            },
        )
    )
    assert app.run() == 0
    assert [e["ts"] for e in late.out.events] == [9, 8]


def test_early_results_on_update() -> None:
    events = [{"ts": t} for t in (1, 2, 3, 12)]
    p = run(
        events,
        TumblingWindow,
        {"size": 10, "time": "ts", "emit": "update", "time_format": "epoch"},
        batch=2,
    )
    assert p.out.events == [
        {"start": 0, "end": 10, "count": 2, "final": False},
        # the batch (3, 12) completes the first window: its final result, no early one
        {"start": 0, "end": 10, "count": 3, "final": True},
        {"start": 10, "end": 20, "count": 1, "final": False},
        {"start": 10, "end": 20, "count": 1, "final": True},
    ]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"size": 10, "reduce": {"x": "median"}}, "unknown reducer 'median'"),
        ({"size": 10, "late": "route"}, "late_target"),
        ({"size": 10, "emit": "timer"}, "emit_interval"),
        ({"size": "ten"}, "not a duration"),
        ({"size": 10, "reduce": {"x": {"sum": "a", "max": "b"}}}, "names one reducer"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], problem: str) -> None:
    app = pump.Application()
    with pytest.raises(ConfigError) as info:
        WindowPipeline(app, [], TumblingWindow, config)
    assert problem in str(info.value)


def test_hop_longer_than_size_is_an_error() -> None:
    with pytest.raises(ConfigError, match="hop"):
        WindowPipeline(pump.Application(), [], HoppingWindow, {"size": 10, "hop": 20})


def test_watermark_waits_for_the_slowest_partition_until_it_is_idle() -> None:
    marks = Watermarks(out_of_orderness=5, idle_timeout=30)
    assert marks.observe("p0", 100, now=0) == 95
    assert marks.observe("p1", 50, now=1) == 95  # never goes back
    assert marks.observe("p0", 200, now=2) == 95  # p1 (50 - 5) holds it back
    assert marks.others("p0", now=2) == 45
    assert marks.observe("p1", 120, now=3) == 115
    assert marks.observe("p0", 200, now=25) == 115
    assert marks.advance(now=33.5) == 195  # p1 silent for 30 s: idle, p0 alone counts
    assert marks.advance(now=60) == 195  # both idle: the most advanced counts
    assert marks.revoke("p0", now=60) == 195  # never goes back
    quiet = Watermarks(out_of_orderness=5, idle_timeout=30)
    quiet.observe("p1", 50, now=0)
    assert quiet.observe("p0", 100, now=0) == 45
    assert quiet.advance(now=31) == 95  # all quiet: nothing is on its way, the highest counts


def test_watermark_counts_the_assigned_partitions_and_no_revoked_one() -> None:
    """Assigned: counted from the start (an unseen one holds the watermark until it delivers
    or is idle; one behind takes the watermark back to its own). Revoked: not counted."""
    marks = Watermarks(out_of_orderness=5, idle_timeout=30)
    for name in ("p0", "p1", "p2"):
        marks.assign(name, -math.inf, now=0)
    assert marks.observe("p0", 100, now=1) == -math.inf
    assert marks.observe("p1", 90, now=1) == -math.inf  # p2 has not delivered: it may be older
    assert marks.others("p1", now=1) == -math.inf
    assert marks.advance(now=30) == 85  # p2 silent since its assignment for 30 s: idle
    assert marks.revoke("p1", now=31) == 95  # p0 alone
    marks.assign("p3", 40, now=32)  # restored with its latest time 40: behind
    assert marks.value == 35
    assert marks.observe("p0", 110, now=33) == 35
    assert marks.revoke("p3", now=34) == 105
    assert set(marks.latest) == {"p0", "p2"}
    marks.assign("p0", 70, now=35)  # again, but its latest known time is later: kept
    assert marks.latest["p0"] == 110 and marks.value == 105


def test_idle_timeout_zero_never_idles() -> None:
    marks = Watermarks(0, idle_timeout=0)
    marks.observe("b", 5, now=0)
    marks.observe("a", 10, now=0)
    assert marks.advance(now=1e9) == 5  # b, silent ever since, still holds it back
    assert marks.others("b", now=1e9) == 10
    assert Watermarks().value == -math.inf


def test_windows_survive_a_restart_in_state() -> None:
    """Half the events, a stop with windows open (kept in state), the rest after a restart:
    the same results as one run, each window emitted once."""
    events = [
        {"ts": t, "user": u}
        for t, u in [(1, "a"), (2, "b"), (11, "a"), (12, "a"), (15, "b"), (21, "a"), (33, "b")]
    ]
    config = {"size": 10, "key": "user", "time": "ts", "time_format": "epoch"}
    backend = MemoryBackend()
    outputs = []
    for part, at_end in ((events[:4], False), (events[4:], True)):
        app = pump.Application()
        pipeline = WindowPipeline(app, part, TumblingWindow, {**config, "flush_at_end": at_end})
        pipeline.set_state_backend(backend)
        app.add_pipeline(pipeline)
        assert app.run() == 0
        outputs += pipeline.out.events
    one_run = run(events, TumblingWindow, config).out.events
    assert outputs == one_run
    assert [(e["key"], e["start"], e["count"]) for e in one_run] == [
        ("a", 0, 1),
        ("b", 0, 1),
        ("a", 10, 2),
        ("b", 10, 1),
        ("a", 20, 1),
        ("b", 30, 1),
    ]


def test_sessions_survive_a_restart_in_state() -> None:
    events = [{"ts": t, "k": "x"} for t in (1, 3, 9, 30, 34)]
    config = {"gap": 5, "key": "k", "time": "ts", "time_format": "epoch"}
    backend = MemoryBackend()
    outputs = []
    for part, at_end in ((events[:2], False), (events[2:], True)):
        app = pump.Application()
        pipeline = WindowPipeline(app, part, SessionWindow, {**config, "flush_at_end": at_end})
        pipeline.set_state_backend(backend)
        app.add_pipeline(pipeline)
        assert app.run() == 0
        outputs += pipeline.out.events
    assert outputs == [
        {"key": "x", "start": 1, "end": 8, "count": 2},
        {"key": "x", "start": 9, "end": 14, "count": 1},
        {"key": "x", "start": 30, "end": 39, "count": 2},
    ]


def test_time_and_key_from_the_context() -> None:
    events = [{"n": i} for i in range(4)]

    class Stamped(pump.Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            context["kafka_timestamp"] = 1_700_000_000_000 + event["n"] * 40_000  # ms
            context["kafka_key"] = b"k"
            return event

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    out = ListSink(app, pipeline)
    window = TumblingWindow(
        app,
        pipeline,
        config={
            "size": "1m",
            "time": "kafka_timestamp",
            "time_in": "context",
            "key": "kafka_key",
            "key_in": "context",
            "reduce": {"n": "sum"},
        },
    )
    pipeline.build(
        IteratorSource(app, pipeline, iterator=events), Stamped(app, pipeline), window, out
    )
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert out.events == [
        # 22:13:20, 22:14:00, 22:14:40 and 22:15:20
        {
            "key": b"k",
            "start": "2023-11-14T22:13:00+00:00",
            "end": "2023-11-14T22:14:00+00:00",
            "n": 0,
        },
        {
            "key": b"k",
            "start": "2023-11-14T22:14:00+00:00",
            "end": "2023-11-14T22:15:00+00:00",
            "n": 3,
        },
        {
            "key": b"k",
            "start": "2023-11-14T22:15:00+00:00",
            "end": "2023-11-14T22:16:00+00:00",
            "n": 3,
        },
    ]


def test_processing_time_windows_close_on_the_clock() -> None:
    async def slowly() -> Any:
        for i in range(3):
            yield {"n": i}
        await asyncio.sleep(0.6)  # the window closes meanwhile, by the clock
        yield {"n": 3}

    async def main() -> list[Any]:
        app = pump.Application()
        pipeline = pump.Pipeline(app, "p")
        out = ListSink(app, pipeline)
        window = TumblingWindow(
            app, pipeline, config={"size": 0.2, "reduce": {"n": "collect"}, "flush_at_end": False}
        )
        pipeline.build(IteratorSource(app, pipeline, iterator=slowly()), window, out)
        app.add_pipeline(pipeline)
        assert await app.main() == 0
        return out.events

    events = asyncio.run(main())
    assert events[0]["n"] == [0, 1, 2]  # closed by the clock, before event 3
    assert all(e["end"] > e["start"] for e in events)


def test_early_results_on_a_timer() -> None:
    async def slowly() -> Any:
        yield {"ts": 1}
        await asyncio.sleep(0.35)
        yield {"ts": 2}
        await asyncio.sleep(0.35)

    async def main() -> list[Any]:
        app = pump.Application()
        pipeline = pump.Pipeline(app, "p")
        out = ListSink(app, pipeline)
        config = {
            "size": 10,
            "time": "ts",
            "emit": "timer",
            "emit_interval": 0.1,
            "time_format": "epoch",
        }
        pipeline.build(
            IteratorSource(app, pipeline, iterator=slowly()),
            TumblingWindow(app, pipeline, config=config),
            out,
        )
        app.add_pipeline(pipeline)
        assert await app.main() == 0
        return out.events

    events = asyncio.run(main())
    assert {"start": 0, "end": 10, "count": 1, "final": False} in events
    assert {"start": 0, "end": 10, "count": 2, "final": False} in events
    assert events[-1] == {"start": 0, "end": 10, "count": 2, "final": True}
    assert sum(1 for e in events if e["count"] == 1) == 1  # nothing changed: nothing emitted


def test_assigned_partitions_hold_the_watermark_until_they_deliver() -> None:
    """A partition given to the source (a Kafka assignment) may still bring older times: it
    holds the watermark from the start, not only once it delivered."""
    app = pump.Application()
    pipeline = WindowPipeline(app, [], TumblingWindow, {"size": 10, "time": "ts"})
    window = pipeline.window
    window.partitions_assigned(["t[0]", "t[1]"])
    window.state.use("t[0]")
    window.process_batch([{}] * 3, [{"ts": t} for t in (1, 5, 30)])
    assert window.Watermarks.value == -math.inf  # t[1] has not delivered: nothing closes
    assert sorted(window.state.partitions()) == ["", "t[0]", "t[1]"]  # their state is loaded
    window.state.use("t[1]")
    window.process_batch([{}], [{"ts": 25}])
    assert window.Watermarks.value == 25


def test_a_revoked_partition_stops_holding_the_watermark_and_nothing_reopens() -> None:
    """Revoked: the partition no longer holds the watermark. Assigned behind the others: the
    watermark goes back to it, but a window closed already stays closed (its events late)."""
    app = pump.Application()
    pipeline = WindowPipeline(app, [], TumblingWindow, {"size": 10, "time": "ts"})
    window = pipeline.window
    window.partitions_assigned(["t[0]", "t[1]"])
    window.state.use("t[0]")
    window.process_batch([{}] * 2, [{"ts": 1}, {"ts": 35}])
    assert window.Watermarks.value == -math.inf  # t[1] may still bring older times
    window.partitions_revoked(["t[1]"])
    assert window.Watermarks.value == 35
    assert window.counters.extra["results_emitted"] == 1  # [0, 10) of t[0] closed at once
    window.partitions_assigned(["t[2]"])  # has not delivered: anything may come from it
    assert window.Watermarks.value == -math.inf
    window.state.use("t[0]")
    window.process_batch([{}], [{"ts": 2}])
    assert window.counters.extra["late_events"] == 1  # [0, 10) of t[0] was emitted
    window.state.use("t[2]")
    window.process_batch([{}], [{"ts": 3}])  # t[2]'s own windows: open
    assert window.counters.extra["late_events"] == 1
    assert window.Watermarks.value == 3


def test_key_function_from_config(tmp_path: Any, monkeypatch: Any) -> None:
    """YAML's way to a key function: key_function: 'module:function' (of the event)."""
    (tmp_path / "keys_of_paths.py").write_text(
        "import posixpath\n\ndef folder(event):\n    return posixpath.dirname(event['path'])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    events = [{"ts": 1, "path": "/a/x"}, {"ts": 2, "path": "/a/y"}, {"ts": 3, "path": "/b/z"}]
    config = {
        "size": 10,
        "time": "ts",
        "key_function": "keys_of_paths:folder",
        "time_format": "epoch",
    }
    p = run(events, TumblingWindow, config)
    assert p.out.events == [
        {"key": "/a", "start": 0, "end": 10, "count": 2},
        {"key": "/b", "start": 0, "end": 10, "count": 1},
    ]
    with pytest.raises(ConfigError, match="not both"):
        WindowPipeline(pump.Application(), [], TumblingWindow, {**config, "key": "path"})
    with pytest.raises(ConfigError, match="cannot be imported"):
        WindowPipeline(
            pump.Application(), [], TumblingWindow, {**config, "key_function": "no.such:f"}
        )


class Spread(Reducer):
    """A custom reducer: max - min of a field (init/add/merge/result)."""

    def init(self) -> list[Any]:
        return [None, None]

    def add(self, acc: list[Any], value: Any) -> list[Any]:
        low, high = acc
        return [
            value if low is None else min(low, value),
            value if high is None else max(high, value),
        ]

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        return [min(a[0], b[0]), max(a[1], b[1])]

    def result(self, acc: list[Any]) -> Any:
        return acc[1] - acc[0]


def test_custom_reducers_a_class_and_a_function() -> None:
    events = [{"ts": t, "v": v} for t, v in [(1, 3), (2, 9), (4, 5), (13, 2), (14, 4)]]
    config = {
        "size": 10,
        "time": "ts",
        "time_format": "epoch",
        "reduce": {"spread": Spread("v"), "product": {"function": "operator:mul", "field": "v"}},
    }
    p = run(events, TumblingWindow, config)
    assert p.out.events == [
        {"start": 0, "end": 10, "spread": 6, "product": 135},
        {"start": 10, "end": 20, "spread": 2, "product": 8},
    ]
    # sessions merge the accumulators of the sessions an event joins
    merged = run(
        [{"ts": t, "v": v} for t, v in [(1, 3), (20, 9), (10.5, 5)]],
        SessionWindow,
        {**{k: v for k, v in config.items() if k != "size"}, "gap": 10, "out_of_orderness": 100},
    )
    assert [(e["spread"], e["product"]) for e in merged.out.events] == [(6, 135)]
