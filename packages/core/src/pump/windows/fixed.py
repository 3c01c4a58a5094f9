"""Tumbling and hopping windows: fixed-size windows aligned to the epoch, kept by start time.

State is `buckets[start][key] = accumulators`. A batch is added by one compiled loop (the time,
the key and the reducers written inline, as a person would write the loop by hand); windows
close when the watermark passes their end plus the allowed lateness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from pump.windows.aggregate import Aggregate
from pump.windows.extract import MAX_TIME, Extract

Bucket = dict[Hashable, list[Any]]
_NUMBER = {int, float}
#: Runs of at least this many events of one key in one window are reduced at once.
MIN_RUN = 8
#: Batches that go one event at a time after a batch whose runs were short, before runs are
#: tried again (the keys of a stream may come in runs later).
_RETRY_RUNS_AFTER = 32


#: Tumbling windows: the window of `t`, worked out only when it changes (per event, a new
#: latest time is just compared with `edge`, the time that closes the window at hand); the
#: current window's dict is `bucket`.
_TUMBLING_WINDOW_OF_T = [
    "if t > latest:",
    "    latest = t",
    "    if t >= edge:",
    "        if t >= MAX_TIME: raise bad_time(t)",
    "        last_s = nan",
    "s = t - t % SIZE",
    "if s != last_s:",
    "    if s != s: raise bad_time(t)",
    "    w = latest - DELAY",
    "    if w > cap: w = cap",
    "    if w > watermark: watermark = w",
    "    if s <= watermark - LS:",
    "        late.append(i)",
    "        continue",
    "    bucket = buckets.get(s)",
    "    if bucket is None: bucket = buckets[s] = {}",
    "    dirty.add(s)",
    "    last_s = s",
    "    e = s + LS",
    "    edge = e + DELAY if cap >= e else MAX_TIME",
    "    if edge > MAX_TIME: edge = MAX_TIME",
]


def _batch_loop(
    name: str,
    setup: list[str],
    body: list[str],
    on_failure: list[str],
    returns: str,
    at_end: Sequence[str] = (),
) -> list[str]:
    """Source of a compiled window loop over a batch: `body` per event (`ev`, index `i`),
    `on_failure` when it raises, `at_end` after the last; it returns (latest, watermark
    `returns`)."""
    return [
        f"def {name}(events, contexts, buckets, dirty, late, failed, latest, watermark, cap,"
        " now, touched):",
        "    late_below = watermark - LS",
        "    last_s = nan",
        "    edge = MAX_TIME",
        "    bucket = None",
        *("    " + line for line in setup),
        "    for i in range(len(events)):",
        "        ev = events[i]",
        "        try:",
        *("            " + line for line in body),
        "        except Exception as exc:",
        *("            " + line for line in on_failure),
        *("    " + line for line in at_end),
        "    w = latest - DELAY",
        "    if w > cap: w = cap",
        "    if w > watermark: watermark = w",
        f"    return latest, watermark{returns}",
    ]


class BadTime(ValueError):
    """An event time that is not a finite time."""


def _bad_time(t: Any) -> BadTime:
    return BadTime(
        f"event time {t!r} is out of range (not a finite time before the year 30,000,000)"
    )


class FixedWindows:
    """Tumbling (`hop == size`) or hopping (`hop < size`) windows over keyed accumulators."""

    def __init__(
        self,
        size: float,
        hop: float | None,
        aggregate: Aggregate,
        extract: Extract,
        lateness: float = 0.0,
        out_of_orderness: float = 0.0,
        track: bool = False,
    ) -> None:
        hop = size if hop is None else hop
        if not size > 0 or not hop > 0:
            raise ValueError(f"window size and hop must be positive, got {size} and {hop}")
        if hop > size:
            raise ValueError(f"hop ({hop}) must not be longer than the window ({size})")
        self.size = size
        self.hop = hop
        self.aggregate = aggregate
        self.lateness = lateness
        self.delay = out_of_orderness
        #: True: every (start, key) changed goes into the `touched` set of `add` (early results).
        self.track = track
        self._run, self._run_runs = self._compile(extract)
        self._one_by_one = 0  # batches left before runs are tried again

    def windows_of(self, t: float) -> list[float]:
        """Starts of the windows that hold time `t`, newest first."""
        last = t - t % self.hop
        starts = []
        j = 0
        s = last
        while s > t - self.size:
            starts.append(s)
            j += 1
            s = last - j * self.hop
        return starts

    def add(
        self,
        buckets: dict[Any, Any],
        dirty: set[Any],
        events: list[Any],
        contexts: Sequence[Any] | None,
        watermark: float,
        latest: float,
        cap: float = math.inf,
        now: float = 0.0,
        touched: set[Any] | None = None,
    ) -> tuple[float, float, list[int], dict[int, BaseException]]:
        """Add a batch of one partition to its windows `buckets` (start → key → accumulators;
        the starts of changed windows go into `dirty`). `latest` is the partition's latest
        event time so far, `cap` the lowest watermark of the other partitions. Returns
        (latest, watermark, indexes of late events, failed events by index)."""
        late: list[int] = []
        failed: dict[int, BaseException] = {}
        if self._run_runs is None or self._one_by_one:
            self._one_by_one = max(0, self._one_by_one - 1)
            latest, watermark = self._run(
                events, contexts, buckets, dirty, late, failed, latest, watermark, cap, now, touched
            )
        else:
            latest, watermark, runs = self._run_runs(
                events, contexts, buckets, dirty, late, failed, latest, watermark, cap, now, touched
            )
            if runs * MIN_RUN > len(events):  # keys take turns: one by one is cheaper
                self._one_by_one = _RETRY_RUNS_AFTER
        return latest, watermark, late, failed

    def closable(self, buckets: dict[Any, Any], watermark: float) -> list[float]:
        """Starts of the windows complete at `watermark` (end + lateness ≤ watermark), oldest
        first (keys of `buckets` that are not numbers are skipped)."""
        edge = watermark - self.lateness - self.size
        return sorted(s for s in buckets if type(s) in _NUMBER and s <= edge)

    def rows(
        self, start: float, bucket: Bucket
    ) -> Iterator[tuple[Hashable, float, float, dict[str, Any]]]:
        """(key, start, end, results) of each key of a window."""
        results = self.aggregate.results
        end = start + self.size
        for key, accs in bucket.items():
            yield key, start, end, results(accs)

    # -- the compiled loop ----------------------------------------------------------------------

    def _compile(
        self, extract: Extract
    ) -> tuple[Callable[..., tuple[float, float]], Callable[..., tuple[float, float, int]] | None]:
        """The batch loop that adds one event at a time, and (tumbling windows whose reducers
        all have code for runs) the one that adds runs of events of one key at once."""
        ns: dict[str, Any] = dict(extract.namespace)
        ns.update(SIZE=self.size, HOP=self.hop, DELAY=self.delay, LS=self.lateness + self.size)
        ns.update(MAX_TIME=MAX_TIME, bad_time=_bad_time, nan=math.nan, MIN_RUN=MIN_RUN)
        reads, first, adds = self.aggregate.code(ns)
        run = self._compile_one_by_one(extract, ns, reads, first, adds)
        runs = None
        bulk = self.aggregate.run_code(ns, "rest")
        if self.hop == self.size and not self.track and bulk is not None:
            runs = self._compile_runs(extract, ns, reads, first, adds, bulk)
        return run, runs

    def _compile_one_by_one(
        self, extract: Extract, ns: dict[str, Any], reads: list[str], first: str, adds: list[str]
    ) -> Callable[..., tuple[float, float]]:
        body: list[str] = []
        if extract.uses_context:
            body.append("ctx = contexts[i]")
        # values are read once the event's window is known (an event's time moves the
        # watermark even when its values fail, as in the loop for runs) and before anything
        # changes (a failed event leaves its window as it was)
        body += extract.time_lines + extract.key_lines
        if self.hop == self.size:
            # tumbling: one window per event; the current window's dict is kept at hand
            body += [
                *_TUMBLING_WINDOW_OF_T,
                *reads,
                "acc = bucket.get(k)",
                "if acc is None:",
                f"    bucket[k] = {first}",
                "else:",
                *("    " + line for line in adds),
                *(["touched.add((s, k))"] if self.track else []),
            ]
        else:
            # hopping: every window that holds t and is still open, newest first
            body += [
                "if t > latest:",
                "    if t >= MAX_TIME: raise bad_time(t)",
                "    latest = t",
                "    w = t - DELAY",
                "    if w > cap: w = cap",
                "    if w > watermark:",
                "        watermark = w",
                "        late_below = w - LS",
                "last = t - t % HOP",
                "if last != last: raise bad_time(t)",
                "if last <= late_below:",
                "    late.append(i)",
                "    continue",
                *reads,
                "s = last",
                "j = 0",
                "while s > t - SIZE and s > late_below:",
                "    bucket = buckets.get(s)",
                "    if bucket is None: bucket = buckets[s] = {}",
                "    dirty.add(s)",
                "    acc = bucket.get(k)",
                "    if acc is None:",
                f"        bucket[k] = {first}",
                "    else:",
                *("        " + line for line in adds),
                *(["    touched.add((s, k))"] if self.track else []),
                "    j += 1",
                "    s = last - j * HOP",
            ]
        lines = _batch_loop("run", extract.setup_lines, body, ["failed[i] = exc"], "")
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<pump window loop>", "exec"), ns)
        self.source = source
        run: Callable[..., tuple[float, float]] = ns["run"]
        return run

    def _compile_runs(
        self,
        extract: Extract,
        ns: dict[str, Any],
        reads: list[str],
        first: str,
        adds: list[str],
        bulk: tuple[list[str], list[str]],
    ) -> Callable[..., tuple[float, float, int]]:
        # Per event only the time, the window and the key are worked out; the events of a
        # run (one key, one window, no failure in between) are reduced together by add_run,
        # with C-level maps as a hand-written loop would count them. A run whose values do
        # not all reduce (a missing field, an unhashable value) goes one event at a time, so
        # each failure is the event's own, as in the one-by-one loop.
        work, store = bulk
        ns["NO_KEY"] = object()
        flush = "add_run(bucket, run_k, run, run_i, failed); run = []; runs += 1"
        flush += "; last_raw = NO_TIME"
        same_key = " and k == run_k" if extract.key_lines != ["k = None"] else ""
        read_time, *convert_time = extract.time_lines
        body: list[str] = []
        if extract.uses_context:
            body.append("ctx = contexts[i]")
        body += [read_time, *extract.key_lines]
        body += [
            # the very time object of the event before (a parser's cached text, or `now`) and
            # its key: the same window, nothing to check
            f"if t is last_raw{same_key}:",
            "    run.append(ev)",
            "    continue",
            "raw_t = t",
            *convert_time,
        ]
        # the run at hand ends as the window changes (before the window's checks)
        change = _TUMBLING_WINDOW_OF_T.index("if s != last_s:") + 2
        body += _TUMBLING_WINDOW_OF_T[:change]
        body += [f"    if run: {flush}", "    run_k = NO_KEY"]
        body += _TUMBLING_WINDOW_OF_T[change:]
        body += [
            "if k != run_k:",
            f"    if run: {flush}",
            "    run_k = k",
            "    run_i = i",
            "run.append(ev)",
            "last_raw = raw_t",
        ]
        lines = [
            "def add_one(bucket, k, ev):",
            *("    " + line for line in reads),
            "    acc = bucket.get(k)",
            "    if acc is None:",
            f"        bucket[k] = {first}",
            "    else:",
            *("        " + line for line in adds),
            "def add_run(bucket, k, run, i0, failed):",
            "    n = len(run)",
            "    j = 0",
            "    whole = n >= MIN_RUN",
            "    while j < n:",
            "        if whole:",
            "            whole = False",
            "            try:",
            "                acc = bucket.get(k)",
            "            except Exception:",
            "                acc = None  # an unhashable key: each event fails on its own",
            "            else:",
            "                # a new window starts with its first event, then the rest at once",
            "                whole = acc is None and j == 0",
            "            if acc is not None:",
            "                rest = run[j:] if j else run",
            "                try:",
            *("                    " + line for line in work),
            "                except Exception:",
            "                    pass  # a value that does not reduce: one by one finds whose",
            "                else:",
            *("                    " + line for line in store),
            "                    return",
            "        try:",
            "            add_one(bucket, k, run[j])",
            "        except Exception as exc:",
            "            failed[i0 + j] = exc",
            "        j += 1",
            *_batch_loop(
                "run_runs",
                [
                    "run = []",
                    "run_k = NO_KEY",
                    "run_i = 0",
                    "runs = 0",
                    "last_raw = NO_TIME",
                    *extract.setup_lines,
                ],
                body,
                ["failed[i] = exc", f"if run: {flush}", "run_k = NO_KEY"],
                ", runs",
                [f"if run: {flush}"],
            ),
        ]
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<pump window runs>", "exec"), ns)
        self.runs_source = source
        run_runs: Callable[..., tuple[float, float, int]] = ns["run_runs"]
        return run_runs
