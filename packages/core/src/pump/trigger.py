"""TriggerSource and its triggers: a source whose `cycle()` runs each time a trigger fires."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, model_validator

from pump.backoff import Backoff
from pump.config import ComponentConfig
from pump.errors import BuildError, ConfigError
from pump.metrics import Counter, Counters
from pump.ratelimit import RateLimitedLog
from pump.source import Source

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline
    from pump.pubsub import PubSub

L = logging.getLogger(__name__)


class TriggerSourceConfig(ComponentConfig):
    """What a trigger source does when a cycle fails."""

    on_cycle_error: Literal["retry", "stop"] = Field(
        "retry",
        description="A cycle that raises: retry (logged, counted, run again at the next trigger, "
        "after a pause that grows while it keeps failing), stop (the pipeline stops with the "
        "error). A cycle that no trigger will run again stops the pipeline either way",
    )
    retry_delay: float = Field(
        1.0, gt=0, description="Pause after a failed cycle, seconds; doubles while it keeps failing"
    )
    retry_delay_max: float = Field(
        60.0, gt=0, description="Longest pause after a failed cycle, seconds"
    )

    @model_validator(mode="after")
    def _delays_in_order(self) -> TriggerSourceConfig:
        if self.retry_delay_max < self.retry_delay:
            raise ValueError("retry_delay_max must be at least retry_delay")
        return self


class TriggerCounters(Counters):
    """A trigger source's counters: the usual ones plus cycles run, fires coalesced and the
    last error of a cycle."""

    __slots__ = ("cycles", "cycles_failing", "fires_skipped", "last_error")

    def __init__(self, declared: Iterable[str] = ()) -> None:
        super().__init__(declared)
        self.cycles = 0
        self.fires_skipped = 0  # fires that arrived while a cycle was already due
        self.cycles_failing = 0  # failed cycles in a row (0 after a success)
        self.last_error: str | None = None  # of the last failed cycle, kept after a success

    def snapshot(self) -> dict[str, Any]:
        """The usual snapshot plus `cycles`, `fires_skipped`, `cycles_failing`, `last_error`."""
        out = super().snapshot()
        out["cycles"] = self.cycles
        out["fires_skipped"] = self.fires_skipped
        out["cycles_failing"] = self.cycles_failing
        out["last_error"] = self.last_error
        return out


class TriggerSource(Source):
    """A source that runs `cycle()` whenever one of its triggers fires (BSPump's TriggerSource).

    Attach triggers with `on(trigger)`. A cycle never overlaps itself: a fire that arrives while
    a cycle is running (or already due) makes one more cycle run after it, and every fire beyond
    that one is counted in `counters.fires_skipped`. Each cycle first waits for the pipeline to
    be ready. A cycle that raises is logged (rate-limited), counted (`cycles_failed`,
    `cycles_failing`, `last_error` in the metrics, and the pipeline's errors) and run again at
    the next trigger, after a pause (`pump.Backoff` from `retry_delay` to `retry_delay_max`)
    while it keeps failing; `on_cycle_error: stop` puts the pipeline in error instead, as does a
    failed cycle that no trigger will run again. The source finishes once every trigger is done
    with it (e.g. a `RunOnceTrigger` after its cycle) and no cycle is due; stopping the source
    cancels the running cycle.
    """

    ConfigModel = TriggerSourceConfig
    Config: TriggerSourceConfig
    counters: TriggerCounters
    #: At most one log line per this many seconds about failing cycles (the rest are counted).
    error_log_interval: ClassVar[float] = 10.0

    cycles_failed = Counter("Cycles that raised")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.counters = TriggerCounters(self.counters.extra)
        self.Triggers: list[Trigger] = []
        self._due = asyncio.Event()
        self._running = False
        c = self.Config
        self._backoff = Backoff(c.retry_delay, c.retry_delay_max)
        self._error_log = RateLimitedLog(L, self.error_log_interval)

    def on(self, trigger: Trigger) -> TriggerSource:
        """Run `cycle()` when `trigger` fires; returns the source, so calls can be chained."""
        if trigger not in self.Triggers:
            self.Triggers.append(trigger)
            trigger.add(self)
            if self._running:
                trigger.activate(self)
        return self

    async def cycle(self) -> None:
        """One run, started by a trigger: emit events with `await self.emit(...)`."""
        raise NotImplementedError(f"{self.location()} does not implement cycle()")

    def fire(self) -> None:
        """Make a cycle due (what triggers call); a fire while one is already due is skipped."""
        if self._due.is_set():
            self.counters.fires_skipped += 1
        else:
            self._due.set()

    async def start(self) -> None:
        """Refuse to start without a trigger: the source would never produce anything."""
        if not self.Triggers:
            raise BuildError(
                f"{self.location()} has no trigger; attach one with "
                f"source.on(pump.PeriodicTrigger(app, 5)) or another trigger"
            )

    async def main(self) -> None:
        """Wait for a fire, wait for the pipeline, run one cycle; until the triggers are done."""
        self._running = True
        for trigger in list(self.Triggers):
            trigger.activate(self)
        try:
            while True:
                if not self._due.is_set():
                    if self._exhausted():
                        return
                    await self._due.wait()
                await self.Pipeline.ready()
                # Cleared only now, so fires that came while waiting for ready() join this cycle.
                self._due.clear()
                pause = await self._run_cycle()
                if pause:
                    # fires during the pause are coalesced into one cycle right after it
                    await asyncio.sleep(pause)
        finally:
            self._running = False
            for trigger in list(self.Triggers):
                trigger.deactivate(self)

    def _exhausted(self) -> bool:
        return all(trigger.finished_for(self) for trigger in self.Triggers)

    async def _run_cycle(self) -> float:
        """Run one cycle; the pause before the next one (0 after a success)."""
        self.counters.cycles += 1
        try:
            await self.cycle()
        except Exception as exc:
            return self._cycle_failed(exc)
        c = self.counters
        if c.cycles_failing:
            L.info(
                "%s: cycle succeeded after %d failed in a row", self.location(), c.cycles_failing
            )
            c.cycles_failing = 0
            self._backoff.reset()
        return 0.0

    def _cycle_failed(self, exc: Exception) -> float:
        self.cycles_failed += 1
        c = self.counters
        c.cycles_failing += 1
        error = c.last_error = f"{type(exc).__name__}: {exc}"
        self.Pipeline.report_error(self, exc)
        if self.Config.on_cycle_error == "stop" or (self._exhausted() and not self._due.is_set()):
            # The pipeline stops on it, like on any source error; the app keeps running.
            L.error("%s: cycle() failed", self.location(), exc_info=exc)
            self.Pipeline.set_error(None, None, exc, self)
            return 0.0
        delay = self._backoff.next_delay()
        self._error_log.error(
            "%s: cycle failed (%d in a row): %s; tried again at the next trigger after %.2fs",
            self.location(),
            c.cycles_failing,
            error,
            delay,
        )
        L.debug("%s: cycle() failed", self.location(), exc_info=exc)
        return delay


class Trigger:
    """Fires the trigger sources it is attached to; one trigger may drive several sources.

    A trigger is armed (its timer runs, its subscription is live) while at least one of its
    sources is running, and fires only those running sources. `pause()` stops firing.
    """

    def __init__(self, app: Application, id: str | None = None) -> None:
        self.App = app
        self.Id = id or type(self).__name__
        self.Sources: list[TriggerSource] = []
        self.paused = False
        self.fires = 0
        self._active: list[TriggerSource] = []

    def add(self, source: TriggerSource) -> None:
        """Attach `source` (use `source.on(trigger)`, which calls this)."""
        if source not in self.Sources:
            self.Sources.append(source)

    def fire(self) -> None:
        """Make a cycle due in every running source (nothing while paused)."""
        if self.paused:
            return
        self.fires += 1
        for source in list(self._active):
            source.fire()

    def pause(self, pause: bool = True) -> None:
        """Stop (`pause=True`) or resume firing."""
        was_paused, self.paused = self.paused, pause
        if was_paused and not pause:
            self.resumed()

    def resumed(self) -> None:
        """Called when the trigger is no longer paused."""

    def activate(self, source: TriggerSource) -> None:
        """`source` started running: fire it from now on (the first one arms the trigger)."""
        if source in self._active:
            return
        self._active.append(source)
        if len(self._active) == 1:
            self.arm()

    def deactivate(self, source: TriggerSource) -> None:
        """`source` stopped running (the last one disarms the trigger)."""
        if source not in self._active:
            return
        self._active.remove(source)
        if not self._active:
            self.disarm()

    def arm(self) -> None:
        """Begin firing: start timers or subscriptions (called in the running event loop)."""

    def disarm(self) -> None:
        """Stop firing: cancel timers or subscriptions."""

    def finished_for(self, source: TriggerSource) -> bool:
        """True when this trigger will never fire `source` again (it may then finish)."""
        return False

    def location(self) -> str:
        """Human-readable name used in messages about this trigger."""
        return f"{type(self).__name__} '{self.Id}'"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r}>"


class _TimerTrigger(Trigger):
    """A trigger whose firing loop is a task running while the trigger is armed."""

    def __init__(self, app: Application, id: str | None = None) -> None:
        super().__init__(app, id)
        self._task: asyncio.Task[None] | None = None

    def arm(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def disarm(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError


class PeriodicTrigger(_TimerTrigger):
    """Fires every `interval` seconds, the first time one interval after its first source starts.

    Fires keep a fixed rate (no drift); ticks missed because the event loop was blocked are not
    made up for.
    """

    def __init__(self, app: Application, interval: float, id: str | None = None) -> None:
        super().__init__(app, id)
        if not interval > 0:  # also rejects NaN
            raise ConfigError(self.location(), [f"interval must be > 0 seconds (got {interval!r})"])
        self.Interval = float(interval)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.Interval
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.fire()
            due += interval
            now = loop.time()
            if due <= now:
                due += (math.floor((now - due) / interval) + 1) * interval


class CronTrigger(_TimerTrigger):
    """Fires at the times a cron expression names (croniter syntax; a 6th field is seconds).

    Times are wall-clock times in `timezone` (an IANA name or a tzinfo; UTC by default, as in
    BSPump). A fire time missed because the process was suspended is fired once, late.
    """

    #: Longest single sleep, seconds: the wall clock is re-read after it (NTP steps, suspend).
    max_sleep = 30.0

    def __init__(
        self,
        app: Application,
        expression: str,
        timezone: str | tzinfo = "UTC",
        id: str | None = None,
    ) -> None:
        super().__init__(app, id)
        if not isinstance(expression, str) or not croniter.is_valid(expression):
            raise ConfigError(self.location(), [f"invalid cron expression {expression!r}"])
        self.Expression = expression
        self.timezone = _zone(timezone, self.location())

    def next_fire(self, after: datetime | float | None = None) -> datetime:
        """The first fire time strictly after `after` (default now), in the trigger's time zone.

        `after` may be an aware datetime, a naive one (read in the trigger's time zone) or a
        Unix timestamp.
        """
        if after is None:
            start = datetime.now(self.timezone)
        elif isinstance(after, datetime):
            start = (
                after.replace(tzinfo=self.timezone)
                if after.tzinfo is None
                else after.astimezone(self.timezone)
            )
        else:
            start = datetime.fromtimestamp(after, self.timezone)
        result: datetime = croniter(self.Expression, start).get_next(datetime)
        return result

    async def _run(self) -> None:
        due = self.next_fire(time.time())
        while True:
            delay = due.timestamp() - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, self.max_sleep))
                continue
            self.fire()
            # From the later of the fire time and now: a long suspend fires once, not N times.
            due = self.next_fire(max(due.timestamp(), time.time()))


class PubSubTrigger(Trigger):
    """Fires when one of `message_types` is published on `pubsub` (the app's PubSub by default)."""

    def __init__(
        self,
        app: Application,
        message_types: str | Iterable[str],
        pubsub: PubSub | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(app, id)
        self.MessageTypes = (
            [message_types] if isinstance(message_types, str) else list(message_types)
        )
        if not self.MessageTypes:
            raise ConfigError(self.location(), ["needs at least one message type"])
        self.PubSub = pubsub if pubsub is not None else app.PubSub

    def arm(self) -> None:
        for message in self.MessageTypes:
            self.PubSub.subscribe(message, self._on_message)

    def disarm(self) -> None:
        for message in self.MessageTypes:
            self.PubSub.unsubscribe(message, self._on_message)

    def _on_message(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.fire()


class RunOnceTrigger(Trigger):
    """Fires each of its sources once, when it starts; after that cycle the source finishes.

    This is how a finite pipeline ends: the source finishes, its events complete, and
    `app.run()` returns. Combined with another trigger on the same source, the source keeps
    running on that one.
    """

    def __init__(self, app: Application, id: str | None = None) -> None:
        super().__init__(app, id)
        self._fired_for: list[TriggerSource] = []

    def activate(self, source: TriggerSource) -> None:
        super().activate(source)
        self._fire_once(source)

    def resumed(self) -> None:
        for source in list(self._active):
            self._fire_once(source)

    def _fire_once(self, source: TriggerSource) -> None:
        if self.paused or source in self._fired_for:
            return
        self._fired_for.append(source)
        self.fires += 1
        source.fire()

    def finished_for(self, source: TriggerSource) -> bool:
        return source in self._fired_for


def _zone(value: str | tzinfo, where: str) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(where, [f"unknown time zone {value!r}"]) from None
