"""The window engines against the brute-force reference (tests/windows/reference.py), on
random event streams with bounded disorder, and on hand-computed cases."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pump.windows.aggregate import Aggregate
from pump.windows.extract import build_extract
from pump.windows.fixed import FixedWindows
from pump.windows.reducers import reducers
from pump.windows.sessions import SessionWindows

sys.path.insert(0, str(Path(__file__).parent))
import itertools

from reference import DISORDERED, amounts, fixed_reference, reduce_events, session_reference

LIMIT = 3
REDUCE = {
    "count": True,
    "sum": {"sum": "v"},
    "min": {"min": "v"},
    "max": {"max": "v"},
    "mean": {"mean": "v"},
    "first": {"first": "v"},
    "last": {"last": "v"},
    "collect": {"collect": "v", "limit": LIMIT},
    "distinct": {"distinct": "v"},
    "top": {"top": "v"},
    "histogram": {"histogram": "v"},
}


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[tuple[int, str, int]], int]:
    """Events (t, key, value) whose times go back by at most `disorder` from the latest."""
    disorder = draw(st.integers(0, 20))
    n = draw(st.integers(1, 80))
    latest = draw(st.integers(0, 1000))
    out = []
    for _ in range(n):
        latest += draw(st.integers(0, 6))
        t = latest - draw(st.integers(0, disorder + 5))  # some beyond the bound: late
        out.append((t, draw(st.sampled_from("abc")), draw(st.integers(-5, 5))))
    return out, disorder


def _events(stream: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    return [{"t": t, "k": k, "v": v} for t, k, v in stream]


def _batches(events: list[Any], cuts: list[int]) -> list[list[Any]]:
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _run_fixed(
    windows: FixedWindows, events: list[Any], cuts: list[int], cap: float = math.inf
) -> tuple[dict[tuple[Any, float], dict[str, Any]], int]:
    buckets: dict[Any, Any] = {}
    dirty: set[Any] = set()
    latest = watermark = -math.inf
    late = 0
    out: dict[tuple[Any, float], dict[str, Any]] = {}
    for batch in _batches(events, cuts):
        latest, watermark, late_idx, failed = windows.add(
            buckets, dirty, batch, None, watermark, latest, cap
        )
        assert not failed
        late += len(late_idx)
        # closing between batches must not change any result
        for start in windows.closable(buckets, watermark):
            for key, s, _, results in windows.rows(start, buckets.pop(start)):
                out[(key, s)] = results
    for start in list(buckets):
        for key, s, _, results in windows.rows(start, buckets.pop(start)):
            out[(key, s)] = results
    return out, late


def _expected(windows: dict[Any, list[Any]]) -> dict[Any, dict[str, Any]]:
    return {w: reduce_events(evs, LIMIT) for w, evs in windows.items()}


@settings(max_examples=100, deadline=None)
@given(
    streams(),
    st.sampled_from([(10, 10), (10, 5), (6, 2), (7, 3), (1, 1)]),
    st.integers(0, 8),
    st.lists(st.integers(0, 100), max_size=6),
    st.sampled_from([math.inf, 500, 900, 1100]),
)
def test_fixed_windows_match_the_reference(
    stream: Any, shape: Any, lateness: int, cuts: Any, cap: float
) -> None:
    """`cap`: another partition's watermark, which this one's never passes."""
    events, disorder = stream
    size, hop = shape
    aggregate = Aggregate(reducers(REDUCE))
    windows = FixedWindows(size, hop, aggregate, build_extract("t", key="k"), lateness, disorder)
    got, late = _run_fixed(windows, _events(events), cuts, cap)
    want, want_late = fixed_reference(events, size, hop, disorder, lateness, cap)
    assert late == want_late
    assert got == _expected(want)


@settings(max_examples=100, deadline=None)
@given(streams(), st.integers(1, 15), st.integers(0, 8), st.lists(st.integers(0, 100), max_size=6))
def test_session_windows_match_the_reference(
    stream: Any, gap: int, lateness: int, cuts: Any
) -> None:
    events, disorder = stream
    aggregate = Aggregate(reducers(REDUCE))
    sessions = SessionWindows(gap, aggregate, build_extract("t", key="k"), lateness, disorder)
    latest = watermark = -math.inf
    late = 0
    got = []
    for batch in _batches(_events(events), cuts):
        latest, watermark, late_idx, failed = sessions.add(batch, None, watermark, latest)
        assert not failed
        late += len(late_idx)
        got += list(sessions.rows(sessions.closable(watermark)))
    got += list(sessions.rows(sessions.closable(math.inf)))
    want, want_late = session_reference(events, gap, disorder, lateness)
    assert late == want_late

    def comparable(results: dict[str, Any]) -> dict[str, Any]:
        # merged sessions keep collected values by session, not by arrival
        return {**results, "collect": sorted(results["collect"])}

    got_rows = sorted((k, s, e, repr(comparable(r))) for k, s, e, r in got)
    want_rows = []
    for k, s, e, evs in want:
        results = reduce_events(evs, len(evs))
        results["collect"] = sorted(e[3] for e in evs)[:LIMIT] if len(evs) <= LIMIT else None
        want_rows.append((k, s, e, results))
    assert len(got_rows) == len(want_rows)
    for (k, s, e, r), (wk, ws, we, wr) in zip(
        got_rows, sorted(want_rows, key=lambda w: (w[0], w[1], w[2])), strict=True
    ):
        assert (k, s, e) == (wk, ws, we)
        results = eval(r)
        if wr["collect"] is None:  # more values than the limit: which ones is by session
            assert len(results["collect"]) == LIMIT
            results["collect"] = wr["collect"] = None
        # of equally frequent values, merged sessions know which came first per session only
        values = [e[3] for e in next(w for w in want if w[:3] == (k, s, e))[3]]
        assert values.count(results.pop("top")) == max(map(values.count, values))
        wr.pop("top")
        assert results == wr


def test_tumbling_by_hand() -> None:
    """Windows of 10 s, 2 s of disorder: 9 and 8 come after the watermark passed 10."""
    aggregate = Aggregate(reducers({"count": True, "amount": "sum"}))
    windows = FixedWindows(10, None, aggregate, build_extract("ts", key="user"), 0, 2)
    events = amounts([*DISORDERED, (11, "a", 4)])
    buckets: dict[Any, Any] = {}
    latest, watermark, late, failed = windows.add(
        buckets, set(), events, None, -math.inf, -math.inf
    )
    assert (latest, watermark, late, failed) == (13, 11, [3, 5], {})
    assert windows.closable(buckets, watermark) == [0]
    assert list(windows.rows(0, buckets.pop(0))) == [("a", 0, 10, {"count": 2, "amount": 12})]
    assert list(windows.rows(10, buckets.pop(10))) == [
        ("a", 10, 20, {"count": 2, "amount": 5}),
        ("b", 10, 20, {"count": 1, "amount": 2}),
    ]


def test_hopping_by_hand() -> None:
    """Windows of 10 s every 5 s: each time is in two windows."""
    aggregate = Aggregate(reducers("count"))
    windows = FixedWindows(10, 5, aggregate, build_extract("ts"), 0, 100)
    assert windows.windows_of(12) == [10, 5]
    buckets: dict[Any, Any] = {}
    windows.add(buckets, set(), [{"ts": t} for t in (1, 4, 6, 12)], None, -math.inf, -math.inf)
    counts = {s: b[None][0] for s, b in buckets.items()}
    assert counts == {-5: 2, 0: 3, 5: 2, 10: 1}


def test_session_merge_by_hand() -> None:
    """Two sessions of one key join when an event fills the gap between them."""
    aggregate = Aggregate(reducers({"count": True, "v": "collect"}))
    sessions = SessionWindows(6, aggregate, build_extract("t", key="k"), 0, 100)
    sessions.add(
        [{"t": 1, "k": "x", "v": "a"}, {"t": 10, "k": "x", "v": "b"}], None, -math.inf, -math.inf
    )
    assert [s[:2] for s in sessions.sessions["x"]] == [[1, 1], [10, 10]]
    sessions.add([{"t": 5, "k": "x", "v": "c"}, {"t": 30, "k": "y", "v": "d"}], None, -math.inf, 10)
    assert [s[:2] for s in sessions.sessions["x"]] == [[1, 10]]
    rows = list(sessions.rows(sessions.closable(math.inf)))
    assert rows == [
        ("x", 1, 16, {"count": 3, "v": ["a", "b", "c"]}),
        ("y", 30, 36, {"count": 1, "v": ["d"]}),
    ]


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [
        (1700000000, "auto", 1700000000),
        (1700000000123, "auto", 1700000000.123),
        (1700000000123456, "auto", 1700000000.123456),
        (1700000000123456789, "auto", 1700000000.1234567),
        (1700000000500, "ms", 1700000000.5),
        ("2023-11-14T22:13:20Z", "auto", 1700000000),
        ("2023-11-14T23:13:20+01:00", "auto", 1700000000),
        ("2023-11-14T22:13:20", "auto", 1700000000),
    ],
)
def test_event_time_formats(value: Any, unit: str, seconds: float) -> None:
    """Every supported time gives the same window: datetime, epoch s/ms/us/ns, ISO text."""
    aggregate = Aggregate(reducers("count"))
    windows = FixedWindows(60, None, aggregate, build_extract("ts", time_unit=unit), 0, 0)  # type: ignore[arg-type]
    buckets: dict[Any, Any] = {}
    latest, _, _, failed = windows.add(buckets, set(), [{"ts": value}], None, -math.inf, -math.inf)
    assert not failed
    assert latest == pytest.approx(seconds, abs=1e-6)
    assert list(buckets) == [1700000000 - 1700000000 % 60]


def test_datetime_times() -> None:
    from datetime import datetime, timedelta, timezone

    aggregate = Aggregate(reducers("count"))
    windows = FixedWindows(60, None, aggregate, build_extract("ts"), 0, 0)
    moment = datetime(2023, 11, 14, 23, 13, 20, tzinfo=timezone(timedelta(hours=1)))
    latest, _, _, failed = windows.add({}, set(), [{"ts": moment}], None, -math.inf, -math.inf)
    assert latest == 1700000000 and not failed


@pytest.mark.parametrize(
    "bad", ["yesterday", None, True, float("inf"), float("nan"), -math.inf, [1]]
)
def test_bad_times_and_keys_fail_only_their_event(bad: Any) -> None:
    aggregate = Aggregate(reducers({"count": True, "amount": "sum"}))
    windows = FixedWindows(10, None, aggregate, build_extract("ts", key="k"), 0, 0)
    buckets: dict[Any, Any] = {}
    events = [
        {"ts": 1, "k": "a", "amount": 1},
        {"ts": bad, "k": "a", "amount": 1},
        {"ts": 2, "k": [1], "amount": 1},
        {"ts": 3, "k": "a"},
        {"ts": 4, "k": "a", "amount": "x"},
        {"ts": 5, "k": "a", "amount": 2},
    ]
    _latest, _watermark, _late, failed = windows.add(
        buckets, set(), events, None, -math.inf, -math.inf
    )
    assert sorted(failed) == [1, 2, 3, 4]
    assert buckets[0]["a"] == [2, 3]  # the failed ones changed nothing


def test_repeated_text_times_convert_like_each_alone() -> None:
    """Text times are converted once per run of equal values; a bad one repeated fails each
    time (it is never taken for the last good one), and other values convert afresh."""
    aggregate = Aggregate(reducers({"count": True}))
    windows = FixedWindows(10, None, aggregate, build_extract("ts"), 0, 0)
    buckets: dict[Any, Any] = {}
    good, later = "1970-01-01T00:00:05+00:00", "1970-01-01T00:00:15Z"
    stamps = [good, good, "bad", "bad", good, later, later, dt.datetime(1970, 1, 1, 0, 0, 25)]
    _latest, _watermark, _late, failed = windows.add(
        buckets, set(), [{"ts": s} for s in stamps], None, -math.inf, -math.inf
    )
    assert sorted(failed) == [2, 3]
    assert {start: bucket[None][0] for start, bucket in buckets.items()} == {0: 3, 10: 2, 20: 1}


RUNNABLE = {name: spec for name, spec in REDUCE.items() if name not in ("first", "last")}
#: Values a reducer may fail on: missing (no field), text (sum, min), unhashable (distinct).
ODD_VALUES = st.one_of(st.integers(-5, 5), st.just("x"), st.just([1]), st.just(2.5))


#: Text times, one object per second (as a parser that caches them gives).
TEXT_TIMES = [f"1970-01-01T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(500)]


@st.composite
def keyed_runs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events in runs of one key (as a log's many requests of one minute), now and then one
    with an odd value or none, or an odd time; times as numbers or as text."""
    events: list[dict[str, Any]] = []
    as_text = draw(st.booleans())
    t = draw(st.integers(10, 100))
    for _ in range(draw(st.integers(1, 6))):
        key = draw(st.sampled_from(["a", "b", ("c", 1)]))
        for _ in range(draw(st.integers(1, 30))):
            t = max(0, t + draw(st.integers(0, 2)) - draw(st.sampled_from([0, 0, 0, 7])))
            when: Any = TEXT_TIMES[t] if as_text else t
            event: dict[str, Any] = {"t": when, "k": key, "v": draw(st.integers(-5, 5))}
            odd = draw(st.integers(0, 30))
            if odd == 0:
                del event["v"]
            elif odd == 1:
                event["v"] = draw(ODD_VALUES)
            elif odd == 2:
                event["t"] = "soon"
            events.append(event)
    return events


@settings(max_examples=150, deadline=None)
@given(keyed_runs(), st.sampled_from([5, 10, 60]), st.integers(0, 4))
def test_runs_of_a_key_reduce_as_one_event_at_a_time(
    events: list[dict[str, Any]], size: int, disorder: int
) -> None:
    """The loop that reduces runs of one key at once gives the one-by-one loop's windows,
    late events and failures (each failure is its own event's), whatever the values."""
    aggregate = Aggregate(reducers(RUNNABLE))
    windows = FixedWindows(size, None, aggregate, build_extract("t", key="k"), 0, disorder)
    assert windows._run_runs is not None
    got: list[Any] = []
    for run in (windows._run, windows._run_runs):
        buckets: dict[Any, Any] = {}
        dirty: set[Any] = set()
        late: list[int] = []
        failed: dict[int, BaseException] = {}
        result = run(
            events, None, buckets, dirty, late, failed, -math.inf, -math.inf, math.inf, 0, None
        )
        failures = {i: type(e) for i, e in failed.items()}
        got.append((result[:2], buckets, dirty, late, failures))
    assert got[0] == got[1]


def test_keys_that_take_turns_go_one_event_at_a_time() -> None:
    aggregate = Aggregate(reducers({"count": True}))
    windows = FixedWindows(10, None, aggregate, build_extract("t", key="k"), 0, 0)
    buckets: dict[Any, Any] = {}
    taking_turns = [{"t": 1, "k": i % 50} for i in range(1000)]
    windows.add(buckets, set(), taking_turns, None, -math.inf, -math.inf)
    assert windows._one_by_one > 0  # runs of one event cost more than they save
    in_runs = FixedWindows(10, None, aggregate, build_extract("t", key="k"), 0, 0)
    in_runs.add({}, set(), sorted(taking_turns, key=lambda e: e["k"]), None, -math.inf, -math.inf)
    assert in_runs._one_by_one == 0
    assert buckets[0][7] == [20]
