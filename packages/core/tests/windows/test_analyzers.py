"""BSPump's analyzers: hooks, the analysis clock, matrices with and without numpy, the
threshold analyzer's alarms, and the latch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pump
from pump.analyzer import (
    HAS_NUMPY,
    Analyzer,
    LatchAnalyzer,
    SessionAnalyzer,
    SessionMatrix,
    ThresholdAnalyzer,
    TimeWindowAnalyzer,
    TimeWindowMatrix,
)
from pump.common import IteratorSource, ListSink
from pump.state import MemoryBackend

START = 1_699_999_980  # a multiple of 60


def build(app: pump.Application, events: list[Any], analyzer: Any, **kw: Any) -> Any:
    pipeline = pump.Pipeline(app, "analyzed")
    sink = ListSink(app, pipeline)
    pipeline.build(
        IteratorSource(app, pipeline, iterator=events, config=kw), analyzer(app, pipeline), sink
    )
    app.add_pipeline(pipeline)
    return pipeline, sink


def test_analyzer_hooks_and_clock() -> None:
    seen: list[Any] = []
    analyses: list[int] = []

    class Evens(Analyzer):
        def predicate(self, context: dict[str, Any], event: Any) -> bool:
            return event % 2 == 0

        def evaluate(self, context: dict[str, Any], event: Any) -> None:
            seen.append(event)

        async def analyze(self) -> None:
            analyses.append(len(seen))

    async def slowly() -> Any:
        for i in range(6):
            yield i
        await asyncio.sleep(0.3)  # the analysis clock ticks meanwhile

    async def main() -> list[Any]:
        app = pump.Application()
        pipeline = pump.Pipeline(app, "p")
        sink = ListSink(app, pipeline)
        analyzer = Evens(app, pipeline, analyze_on_clock=True, config={"analyze_period": 0.05})
        pipeline.build(IteratorSource(app, pipeline, iterator=slowly()), analyzer, sink)
        app.add_pipeline(pipeline)
        assert await app.main() == 0
        return sink.events

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]  # passed on unchanged
    assert seen == [0, 2, 4]
    assert len(analyses) >= 3 and analyses[-1] == 3


@pytest.mark.parametrize("use_numpy", [False, True])
def test_time_window_matrix(use_numpy: bool) -> None:
    if use_numpy and not HAS_NUMPY:
        pytest.skip("numpy is not installed")
    tw = TimeWindowMatrix(columns=3, resolution=60, start_time=START, use_numpy=use_numpy)
    assert (tw.End, tw.Start) == (START - 120, START + 60)
    assert tw.UsesNumpy is use_numpy
    row = tw.add_row("server-1")
    assert tw.add_row("server-1") == row == 0
    assert tw.get_column(START + 59) == 2 and tw.get_column(START - 120) == 0
    assert tw.get_column(START + 60) is None and tw.get_column(START - 121) is None
    assert (tw.early, tw.late) == (1, 1)
    tw.Array[row, 2, 0] = 5.0
    tw.Array[row, 1] = 3.0
    tw.add_row("server-2")
    tw.Array[1, 0] = 1.0
    assert tw.advance(START + 61) == 1
    assert [tw.Array[0, c, 0] for c in range(3)] == [3.0, 5.0, 0.0]
    assert tw.WarmingUpCount == [2, 2]
    tw.close_row("server-1")
    tw.flush()
    assert tw.get_row_index("server-2") == 0 and tw.get_row_name(0) == "server-2"
    assert tw.Array.shape == (1, 3, 1)
    assert tw.advance(START + 10_000) > 3  # far ahead: empty again
    assert [tw.Array[0, c, 0] for c in range(3)] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("use_numpy", [False, True])
def test_session_matrix(use_numpy: bool) -> None:
    if use_numpy and not HAS_NUMPY:
        pytest.skip("numpy is not installed")
    sessions = SessionMatrix(["bytes", "requests"], ["f8", "i8"], use_numpy=use_numpy)
    a = sessions.add_row("a", start_time=10)
    b = sessions.add_row("b", start_time=20)
    sessions.Array["bytes"][a] += 100
    sessions.Array["requests"][b] += 2
    sessions.close_row("a", end_time=30)
    assert sessions.Array["@timestamp_end"][a] == 30
    sessions.flush()
    assert sessions.get_row_index("b") == 0
    assert sessions.Array["requests"][0] == 2 and sessions.Array["@timestamp_start"][0] == 20


def test_time_window_analyzer_by_event_time() -> None:
    """A BSPump-style analyzer: requests per server per minute, moved on by event time."""

    class RequestsPerMinute(TimeWindowAnalyzer):
        def __init__(self, app: pump.Application, pipeline: pump.Pipeline) -> None:
            super().__init__(
                app, pipeline, columns=3, resolution=60, start_time=START, clock_driven=False
            )

        def evaluate(self, context: dict[str, Any], event: Any) -> None:
            self.advance(event["@timestamp"])
            row = self.TimeWindow.get_row_index(event["server"])
            if row is None:
                row = self.TimeWindow.add_row(event["server"])
            column = self.TimeWindow.get_column(event["@timestamp"])
            if column is not None:
                self.TimeWindow.Array[row, column, 0] += 1

    events = [
        {"server": s, "@timestamp": START + t}
        for s, t in [("a", 1), ("a", 2), ("b", 61), ("a", 62), ("a", 130)]
    ]
    backend = MemoryBackend()
    matrices = []
    for part in (events[:3], events[3:]):  # two runs: the second restores the matrix
        app = pump.Application()
        pipeline, sink = build(app, part, RequestsPerMinute)
        pipeline.set_state_backend(backend)
        assert app.run() == 0
        assert sink.events == part  # passed on unchanged
        matrices.append(pipeline.Processors[0].TimeWindow)
    tw = matrices[1]
    assert tw is not matrices[0] and tw.Start == START + 180
    a, b = tw.get_row_index("a"), tw.get_row_index("b")
    assert [tw.Array[a, c, 0] for c in range(3)] == [2, 1, 1]
    assert [tw.Array[b, c, 0] for c in range(3)] == [0, 1, 0]


def test_session_analyzer_with_dtype() -> None:
    class Bytes(SessionAnalyzer):
        def __init__(self, app: pump.Application, pipeline: pump.Pipeline) -> None:
            super().__init__(app, pipeline, dtype=[("bytes", "f8")])

        def evaluate(self, context: dict[str, Any], event: Any) -> None:
            row = self.Sessions.get_row_index(event["id"])
            if row is None:
                row = self.Sessions.add_row(event["id"], start_time=event["t"])
            self.Sessions.Array["bytes"][row] += event["bytes"]

    app = pump.Application()
    pipeline, _ = build(
        app, [{"id": "x", "t": 1, "bytes": 5}, {"id": "x", "t": 2, "bytes": 7}], Bytes
    )
    assert app.run() == 0
    sessions = pipeline.Processors[0].Sessions
    assert sessions.Array["bytes"][0] == 12 and sessions.Array["@timestamp_start"][0] == 1


def test_threshold_analyzer_emits_crossings_per_key() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "cpu")
    sink = ListSink(app, pipeline)
    values = [("a", 50), ("a", 95), ("b", 10), ("a", 97), ("a", 40), ("b", 5), ("b", 2)]
    events = [{"host": h, "cpu": v} for h, v in values] + [{"host": "c"}]
    analyzer = ThresholdAnalyzer(
        app,
        pipeline,
        config={
            "event_attribute": "host",
            "load_event": "cpu",
            "lower_bound": 6,
            "upper_bound": 90,
        },
    )
    pipeline.build(IteratorSource(app, pipeline, iterator=events), analyzer, sink)
    app.add_pipeline(pipeline)
    assert app.run() == 0
    alarms = [e for e in sink.events if "state" in e]
    assert [(a["key"], a["value"], a["previous"], a["state"]) for a in alarms] == [
        ("a", 95, "within", "above"),
        ("a", 40, "above", "within"),
        ("b", 5, "within", "below"),
    ]
    assert [e for e in sink.events if "state" not in e] == events  # passed on unchanged


def test_latch_analyzer_keeps_the_last_matching_events() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "latch")
    sink = ListSink(app, pipeline)
    latch = LatchAnalyzer(app, pipeline, query={"status": 500}, config={"latch_max_size": 2})
    events = [{"status": s, "n": i} for i, s in enumerate([200, 500, 500, 404, 500])]
    pipeline.build(IteratorSource(app, pipeline, iterator=events), latch, sink)
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert [e["n"] for e in latch.Latch] == [2, 4]
    inverted = LatchAnalyzer(app, pipeline, query=lambda e: e["status"] == 500, inclusive=True)
    assert inverted.matches({"status": 200}) and not inverted.matches({"status": 500})
