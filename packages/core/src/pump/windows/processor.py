"""Window processors: tumbling, hopping and session windows over keyed, checkpointed state.

Each window processor takes the events it gets into its windows (returning None for them:
they are absorbed) and emits one event per key and window when the window closes. Its windows
live in the processor's keyed state (`self.state`, one key space per source partition), so a
checkpoint makes them durable and acknowledges the events they absorbed: a window longer than
`max_in_flight` events never stalls its source.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pump.errors import ConfigError, PartialBatchError
from pump.metrics import Counter
from pump.processor import Processor
from pump.ratelimit import RateLimitedLog
from pump.windows.aggregate import Aggregate
from pump.windows.config import (
    HoppingWindowConfig,
    SessionWindowConfig,
    TumblingWindowConfig,
    WindowConfig,
)
from pump.windows.eventtime import format_time
from pump.windows.extract import build_extract
from pump.windows.fixed import FixedWindows
from pump.windows.reducers import check_reducers, import_object
from pump.windows.sessions import SessionWindows
from pump.windows.watermark import NEVER, Watermarks

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline
    from pump.routing import InternalSource

    _Pipeline = Pipeline  # the name `Pipeline` is the attribute inside the class body

L = logging.getLogger(__name__)

# What closing windows emits: (start, end, (key, accumulators) pairs), one per window start
Group = tuple[float, float, Iterable[tuple[Hashable, list[Any]]]]

# How often (seconds, at most) idle partitions, processing-time windows and timers are looked at
_TICK = 1.0


class _Mark:
    """A state key of the window's own bookkeeping (never equal to a window key)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return type(other) is _Mark and other.name == self.name

    def __hash__(self) -> int:
        return hash(("pump.windows", self.name))

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name  # pickled by name: the module-level object of that name


#: A partition's latest event time, kept in its state beside the windows (it moves with it).
LATEST = _Mark("LATEST")
#: The watermark a partition's windows were last closed at: its events are late below it
#: even when the watermark has gone back (a partition behind the others was assigned).
CLOSED = _Mark("CLOSED")
#: Checkpoints of earlier versions hold it (every partition's watermark, in partition ""):
#: read, never used.
WATERMARKS = _Mark("WATERMARKS")


class LateEventError(Exception):
    """An event came after its window had closed (what a dead-lettered late event carries)."""


class Window(Processor):
    """Base of the window processors: reads time and key, reduces, closes, emits.

    The output event is `{"key": ..., "start": ..., "end": ..., <reducer outputs>}` (no `key`
    for a global window; `final` too when early results are on).
    """

    Pipeline: _Pipeline
    consumes_events = True
    stateful = True
    ConfigModel: ClassVar[type[WindowConfig]] = WindowConfig
    Config: WindowConfig

    late_events = Counter("Events that came after their window had closed")
    results_emitted = Counter("Window results emitted (final and early)")

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        cfg = self.Config
        where = f"{type(self).__name__} '{self.Id}'"
        problems = []
        if cfg.late == "route" and not cfg.late_target:
            problems.append("key 'late_target': required with late: route")
        if cfg.emit == "timer" and not cfg.emit_interval > 0:
            problems.append("key 'emit_interval': must be above 0 with emit: timer")
        if problems:
            raise ConfigError(where, problems)
        key = cfg.key
        if cfg.key_function:
            if key is not None:
                problems.append("key 'key_function': give key or key_function, not both")
            try:
                key = import_object(cfg.key_function, "key function")
            except ValueError as exc:
                problems.append(f"key 'key_function': {exc}")
        if problems:
            raise ConfigError(where, problems)
        self.Reducers = check_reducers(where, cfg.reduce)
        self.Aggregate = Aggregate(self.Reducers)
        self._build = self.Aggregate.builder(key is not None, cfg.emit != "final")
        self.Keyed = key is not None
        self.ProcessingTime = cfg.time is None
        self._early = cfg.emit != "final"
        self._extract = build_extract(cfg.time, cfg.time_in, cfg.time_unit, key, cfg.key_in)
        self.Watermarks = Watermarks(
            0.0 if self.ProcessingTime else cfg.out_of_orderness, cfg.idle_timeout, self._backlog
        )
        self._contexts_needed = self._extract.uses_context
        self._format = cfg.time_format
        self._touched: set[Any] = set()  # windows changed since the last early results
        self._late_target: InternalSource | None = None
        self._late_log = RateLimitedLog(L, 10.0)
        self._ticker: asyncio.TimerHandle | None = None
        self._last_early = 0.0
        self._watched: list[asyncio.Task[None]] = []
        self._input_ended = False
        self._final_checkpoint: asyncio.Task[bool] | None = None
        try:
            self._make_windows(0.0 if self.ProcessingTime else cfg.allowed_lateness)
        except ValueError as exc:
            raise ConfigError(where, [f"key '{self.shape_key}': {exc}"]) from None

    # -- the kind of window (subclasses) ----------------------------------------------------------

    #: The setting a bad window shape is reported under.
    shape_key: ClassVar[str] = "size"

    def _make_windows(self, lateness: float) -> None:
        """Build the window engine (`lateness`: the allowed lateness, 0 in processing time)."""
        raise NotImplementedError

    def _add(
        self,
        partition: str,
        data: dict[Any, Any],
        changed: set[Any],
        events: list[Any],
        contexts: Sequence[Any] | None,
        watermark: float,
        latest: float,
        cap: float,
        now: float,
    ) -> tuple[float, float, list[int], dict[int, BaseException]]:
        raise NotImplementedError

    def _closable(
        self, partition: str, data: dict[Any, Any], changed: set[Any], watermark: float
    ) -> list[Group]:
        """Remove the windows of one partition complete at `watermark`; what they emit."""
        raise NotImplementedError

    def _open_rows(self, partition: str, data: dict[Any, Any], which: set[Any]) -> list[Group]:
        """What the open windows in `which` emit as early results."""
        raise NotImplementedError

    # -- the event path ----------------------------------------------------------------------

    def process_batch(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> list[Any]:
        """Take a batch into its windows; emit the windows its watermark closed."""
        state = self.state
        partition = state.partition
        data = state.data
        changed = state.changed
        watermarks = self.Watermarks
        clock = time.monotonic()
        now = time.time()
        latest = data.get(LATEST, NEVER)
        known = watermarks.latest
        if not known or (len(known) == 1 and partition in known):
            cap = math.inf
        else:
            cap = watermarks.others(partition, clock)
        before = watermarks.value
        # late: in a window closed already, even if the watermark went back since
        closed = data.get(CLOSED, NEVER)
        latest, _, late, failed = self._add(
            partition,
            data,
            changed,
            events,
            contexts if self._contexts_needed else None,
            before if before >= closed else closed,
            latest,
            cap,
            now,
        )
        if latest != NEVER:
            if data.get(LATEST) != latest:
                data[LATEST] = latest
                changed.add(LATEST)
            watermark = watermarks.observe(partition, latest, clock)
        else:
            watermark = before
        if late:
            self._late(contexts, events, late)
        if watermark > before:
            self._close(watermark)
        if self._early and self.Config.emit == "update":
            self._emit_early()
        results: list[Any] = [None] * len(events)
        if failed:
            raise PartialBatchError(results, {i: self._explain(e) for i, e in failed.items()})
        return results

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """One event (replays after recovery, and reruns): as a batch of one."""
        try:
            return self.process_batch([context], [event])[0]
        except PartialBatchError as partial:
            raise partial.errors[0] from None

    def _explain(self, exc: BaseException) -> BaseException:
        """A failed event's error, saying what the window could not read."""
        if isinstance(exc, KeyError):
            return KeyError(f"{self.location()}: the event has no field {exc.args[0]!r}")
        if isinstance(exc, TypeError):
            return TypeError(f"{self.location()}: cannot reduce the event: {exc}")
        if isinstance(exc, ValueError):
            return ValueError(f"{self.location()}: {exc}")
        return exc

    def _late(self, contexts: Sequence[dict[str, Any]], events: list[Any], late: list[int]) -> None:
        """Events whose windows had closed: dropped (counted), dead-lettered or routed."""
        self.late_events += len(late)
        if L.isEnabledFor(logging.DEBUG):
            L.debug(
                "%s: %d late event(s) of partition %r, watermark %s",
                self.location(),
                len(late),
                self.state.partition,
                self.Watermarks.value,
            )
        policy = self.Config.late
        if policy == "drop":
            return
        if policy == "route":
            target = self._late_target
            if target is not None:
                batch = self.Pipeline.current_batch
                target.put_batch(
                    [events[i] for i in late],
                    [dict(contexts[i]) for i in late],
                    batch.hold() if batch is not None else None,
                )
                return
        else:
            error = LateEventError(
                f"{self.location()}: the event came after its window had closed (watermark "
                f"{format_time(self.Watermarks.value, 'iso')})"
            )
            if self.Pipeline.write_dead_letters(
                self, [(contexts[i], events[i], error) for i in late]
            ):
                return
        self._late_log.warning(
            "%s: late events dropped: late: %s has nowhere to go", self.location(), policy
        )

    def _backlog(self, partition: Any) -> bool:
        pipeline = self.Pipeline
        return pipeline is not None and pipeline.backlog(partition)

    def partitions_assigned(self, partitions: list[str]) -> None:
        """Count the partitions in the watermark at once, each from the latest time its
        restored state holds: until it delivers or goes idle it holds the watermark back (one
        that has not delivered yet may still bring older times)."""
        watermarks = self.Watermarks
        clock = time.monotonic()
        for name in partitions:
            latest = self.state.partition_named(name).data.get(LATEST, NEVER)
            watermarks.assign(name, latest, clock)

    def partitions_revoked(self, partitions: list[str]) -> None:
        """The partitions (their state gone with them) no longer hold the watermark back."""
        watermarks = self.Watermarks
        before = watermarks.value
        clock = time.monotonic()
        for name in partitions:
            watermarks.revoke(name, clock)
        if watermarks.value > before:
            self._close(watermarks.value)

    # -- closing and emitting ---------------------------------------------------------------------

    def _close(self, watermark: float) -> None:
        """Emit and remove every window (of every partition) complete at `watermark`."""
        state = self.state
        counted = self.Watermarks.latest
        for name in state.partitions():
            part = state.partition_named(name)
            rows = self._closable(name, part.data, part.changed, watermark)
            # kept: the partition's events below it are late however the watermark moves later
            # (the end of the input, closing everything, is no watermark)
            if (rows or name in counted) and part.data.get(CLOSED, NEVER) < watermark < math.inf:
                part.data[CLOSED] = watermark
                part.changed.add(CLOSED)
            if rows and L.isEnabledFor(logging.DEBUG):
                L.debug(
                    "%s: %d window(s) of %r closed at %s",
                    self.location(),
                    len(rows),
                    name,
                    watermark,
                )
            if rows:
                self._emit(rows, final=True)

    def _emit(self, groups: list[Group], final: bool) -> None:
        fmt, build = self._format, self._build
        out: list[dict[str, Any]] = []
        for start, end, items in groups:
            build(items, format_time(start, fmt), format_time(end, fmt), final, out)
        self.results_emitted += len(out)
        self.state.emit(out)

    def _emit_early(self) -> None:
        touched, self._touched = self._touched, set()
        if not touched:
            return
        state = self.state
        rows: list[Group] = []
        for name in state.partitions():
            part = state.partition_named(name)
            rows += self._open_rows(name, part.data, touched)
        if rows:
            self._emit(rows, final=False)

    def close_all(self) -> None:
        """Emit and remove every open window, complete or not (the input has ended)."""
        self._close(math.inf)

    # -- timers and the end of the input -------------------------------------------------------

    async def start(self) -> None:
        """Resolve the late-event target; start the timer; watch for the input's end."""
        await super().start()
        if self.Config.late == "route":
            from pump.routing import _resolve_target

            self._late_target = _resolve_target(self.App, self.Config.late_target, self.location())
            self._late_target.register_upstream(self.Pipeline)
        loop = asyncio.get_running_loop()
        self._input_ended = False
        self._ticker = loop.call_later(self._tick_interval(), self._tick)
        loop.call_soon(self._watch_sources)

    def _tick_interval(self) -> float:
        tick = _TICK
        cfg = self.Config
        if cfg.idle_timeout:
            tick = min(tick, cfg.idle_timeout / 4)
        if cfg.emit == "timer":
            tick = min(tick, cfg.emit_interval)
        size = getattr(cfg, "size", None) or getattr(cfg, "gap", None)
        if self.ProcessingTime and size:
            tick = min(tick, size / 4)
        return max(tick, 0.01)

    def _tick(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(self._tick_interval(), self._tick)
        try:
            watermarks = self.Watermarks
            before = watermarks.value
            if self.ProcessingTime:
                # processing time goes on without events: every partition is as late as now
                now = time.time()
                if now > watermarks.value:
                    watermarks.value = now
            else:
                watermarks.advance(time.monotonic())
            if watermarks.value > before:
                self._close(watermarks.value)
            if self.Config.emit == "timer":
                clock = time.monotonic()
                if clock - self._last_early >= self.Config.emit_interval:
                    self._last_early = clock
                    self._emit_early()
        except Exception:
            L.exception("%s: closing windows on the timer failed", self.location())

    def _watch_sources(self) -> None:
        tasks = [s.task for s in self.Pipeline.Sources]
        if any(t is None for t in tasks):
            asyncio.get_running_loop().call_later(0.01, self._watch_sources)
            return
        self._watched = [t for t in tasks if t is not None]
        for task in self._watched:
            task.add_done_callback(self._source_done)

    def _source_done(self, task: asyncio.Task[None]) -> None:
        self._check_input_ended()

    def _check_input_ended(self) -> None:
        """Every source returned by itself (not stopped): the input ended, close everything."""
        if self._input_ended or not self.Config.flush_at_end:
            return
        # the pipeline's own tasks, not `_watched`: a short input can end before the watch
        tasks = [source.task for source in self.Pipeline.Sources]
        if tasks and all(t is not None and t.done() and not t.cancelled() for t in tasks):
            self._input_ended = True
            try:
                self.close_all()
            except Exception:
                L.exception("%s: emitting the open windows at the end failed", self.location())
            # nothing more will come: checkpoint now, not at the next interval, so that the
            # input is acknowledged and the pipeline finishes
            self._final_checkpoint = asyncio.get_running_loop().create_task(
                self.Pipeline.checkpoint()
            )

    async def flush(self) -> None:
        """At a drain: close every window if the input ended; at a stop, keep them (state)."""
        self._check_input_ended()

    async def stop(self) -> None:
        """Stop the timer."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for task in self._watched:
            task.remove_done_callback(self._source_done)
        self._watched = []
        await super().stop()


class TumblingWindow(Window):
    """Fixed, non-overlapping windows of `size` seconds, aligned to the epoch."""

    ConfigModel = TumblingWindowConfig
    Config: TumblingWindowConfig
    Windows: FixedWindows

    def _make_windows(self, lateness: float) -> None:
        delay = self.Watermarks.delay
        self.Windows = FixedWindows(
            self.Config.size,
            self._hop(),
            self.Aggregate,
            self._extract,
            lateness,
            delay,
            track=self._early,
        )

    def _hop(self) -> float | None:
        return None

    def _add(self, partition, data, changed, events, contexts, watermark, latest, cap, now):  # type: ignore[no-untyped-def]
        return self.Windows.add(
            data, changed, events, contexts, watermark, latest, cap, now, self._touched
        )

    def _closable(self, partition, data, changed, watermark):  # type: ignore[no-untyped-def]
        size = self.Windows.size
        groups: list[Group] = []
        for start in self.Windows.closable(data, watermark):
            bucket = data.pop(start)
            changed.add(start)
            groups.append((start, start + size, bucket.items()))
        return groups

    def _open_rows(self, partition, data, which):  # type: ignore[no-untyped-def]
        size = self.Windows.size
        groups: list[Group] = []
        for start, key in sorted(which, key=lambda w: w[0]):
            bucket = data.get(start)
            if bucket is not None and key in bucket:
                groups.append((start, start + size, [(key, bucket[key])]))
        return groups


class HoppingWindow(TumblingWindow):
    """Windows of `size` seconds starting every `hop` seconds (overlapping when hop < size)."""

    ConfigModel = HoppingWindowConfig  # type: ignore[assignment]
    Config: HoppingWindowConfig  # type: ignore[assignment]
    shape_key = "hop"

    def _hop(self) -> float | None:
        return self.Config.hop


class SessionWindow(Window):
    """Per key, a window of events less than `gap` seconds apart; it closes after a `gap` of
    silence (in event time)."""

    ConfigModel = SessionWindowConfig
    Config: SessionWindowConfig
    Sessions: SessionWindows
    shape_key = "gap"

    def _make_windows(self, lateness: float) -> None:
        delay = self.Watermarks.delay
        self.Sessions = SessionWindows(
            self.Config.gap, self.Aggregate, self._extract, lateness, delay
        )
        self._by_partition: dict[str, SessionWindows] = {}

    def _sessions(self, partition: str, data: dict[Any, Any], changed: set[Any]) -> SessionWindows:
        sessions = self._by_partition.get(partition)
        if sessions is None or sessions.sessions is not data or sessions.dirty is not changed:
            sessions = self._by_partition[partition] = self.Sessions.spawn(data, changed)
        return sessions

    def _add(self, partition, data, changed, events, contexts, watermark, latest, cap, now):  # type: ignore[no-untyped-def]
        sessions = self._sessions(partition, data, changed)
        sessions.touched = self._touched if self._early else None
        return sessions.add(events, contexts, watermark, latest, cap, now)

    def _closable(self, partition, data, changed, watermark):  # type: ignore[no-untyped-def]
        sessions = self._sessions(partition, data, changed)
        gap = sessions.gap
        return [(s[0], s[1] + gap, [(key, s[2])]) for key, s in sessions.closable(watermark)]

    def _open_rows(self, partition, data, which):  # type: ignore[no-untyped-def]
        sessions = self._by_partition.get(partition)
        if sessions is None:
            return []
        gap = sessions.gap
        return [
            (s[0], s[1] + gap, [(key, s[2])])
            for key in which
            if isinstance(data.get(key), list)
            for s in data[key]
        ]
