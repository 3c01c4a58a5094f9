"""Aggregator: holds events until a completion rule fires, then emits them as one event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pump.common.aggregation import (
    AggregationStrategy,
    DictAggregationStrategy,
    ListAggregationStrategy,
    ListEventAggregationStrategy,
    StringAggregationStrategy,
)
from pump.config import ComponentConfig
from pump.processor import Processor
from pump.routing import InternalSource

if TYPE_CHECKING:
    from pump.application import Application
    from pump.delivery import Batch
    from pump.pipeline import Pipeline

    _Pipeline = Pipeline  # the name `Pipeline` is the attribute inside the class body

L = logging.getLogger(__name__)

StrategyName = Literal["list", "pairs", "dict", "string"]

# How often start() looks again for the source tasks the pipeline has not created yet.
_WATCH_RETRY = 0.01
# How often sources fed by other pipelines are looked through (as InternalSource polls them).
_UPSTREAM_POLL = 0.05


class CompletionConfig(ComponentConfig):
    """When an aggregate is complete: the settings every Aggregator (and subclass) has."""

    completion_size: int = Field(10, gt=0, description="Emit when this many events are held")
    completion_timeout: float = Field(
        0, ge=0, description="Emit this many seconds after an aggregate's first event (0: off)"
    )
    completion_interval: float = Field(
        0, ge=0, description="Emit what is held every this many seconds (0: off)"
    )


class AggregatorConfig(CompletionConfig):
    """Settings of a Aggregator."""

    strategy: StrategyName = Field(
        "list",
        description="Aggregate shape: list of events, pairs of (context, event), "
        "dict {key: [events]}, or string (str of events joined by delimiter)",
    )
    key: str = Field("events", description="Key of the event list (strategy 'dict')")
    delimiter: str = Field("\n", description="Joins the events (strategy 'string')")


class Aggregator(Processor):
    """Collects events into aggregates (a list, a dict, a joined string) and emits those.

    An aggregate is complete when it holds `completion_size` events, when
    `completion_timeout` seconds passed since its first event, or at every tick of
    `completion_interval` — whichever comes first. Each event it takes is held, not done:
    the source batches it came from are acknowledged only once the aggregate made of it is
    written by the sink (or handled by the error policy). When every source of the pipeline
    has finished — run out, or stopped for a shutdown — what is held is emitted at once,
    so a drain never waits for a completion rule; `flush()` does the same on demand.

    The aggregate event gets a new, empty context. Note that held events count as in
    flight: an aggregate bigger than the pipeline's `max_in_flight` completes only by time.
    """

    Pipeline: _Pipeline
    consumes_events = True

    ConfigModel = AggregatorConfig
    Config: AggregatorConfig

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline,
        aggregation_strategy: AggregationStrategy | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.CompletionSize: int = self.Config["completion_size"]
        self.CompletionTimeout: float = self.Config["completion_timeout"]
        self.CompletionInterval: float = self.Config["completion_interval"]
        self.AggregationStrategy = aggregation_strategy or self.configured_strategy()
        #: Events in the current aggregate.
        self.CurrentSize = 0
        self._held: list[Batch] = []  # one entry per hold(): the batches the aggregate came from
        self._last_held: Batch | None = None  # the last of them
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._interval: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._watch: asyncio.Handle | None = None
        self._sources_left = 0
        self._sources_finished = False
        self._emit_soon: asyncio.Handle | None = None

    def configured_strategy(self) -> AggregationStrategy:
        """The strategy the config names (called once the config is read, when none is passed);
        a subclass that aggregates into something else returns its own."""
        name: StrategyName = self.Config["strategy"]
        if name == "pairs":
            return ListAggregationStrategy()
        if name == "dict":
            return DictAggregationStrategy(self.Config["key"])
        if name == "string":
            return StringAggregationStrategy(self.Config["delimiter"])
        return ListEventAggregationStrategy()

    # -- the event path ---------------------------------------------------------------------

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Hold the event in the current aggregate; emit the aggregate when it is full."""
        self.AggregationStrategy.append(context, event)
        batch = self.Pipeline.current_batch
        # One hold per run of events from the same batch, not one per event.
        if batch is not self._last_held and batch is not None:
            self._held.append(batch.hold())
            self._last_held = batch
        size = self.CurrentSize = self.CurrentSize + 1
        if size == 1:
            self._first_held()
        if size >= self.CompletionSize:
            self._emit()
        return None

    def process_batch(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> list[Any]:
        """Hold the batch's events a run at a time, emitting each aggregate as it fills."""
        start, n = 0, len(events)
        while start < n:
            end = min(n, start + max(1, self.CompletionSize - self.CurrentSize))
            self.hold(contexts[start:end], events[start:end])
            start = end
        return [None] * n

    def hold(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Add events to the current aggregate (emitted once full: keep runs within its room)."""
        self.AggregationStrategy.extend(contexts, events)
        batch = self.Pipeline.current_batch
        if batch is not self._last_held and batch is not None:
            self._held.append(batch.hold())
            self._last_held = batch
        size = self.CurrentSize = self.CurrentSize + len(events)
        if size == len(events):
            self._first_held()
        if size >= self.CompletionSize:
            self._emit()

    def _first_held(self) -> None:
        """A new aggregate started: arm its timeout; emit soon when no more input will come."""
        if self.CompletionTimeout > 0:
            self._timeout = self._event_loop().call_later(self.CompletionTimeout, self._on_timer)
        if (self._sources_finished or self.Pipeline.draining) and self._emit_soon is None:
            # Sources are done (or the pipeline drains) but events still come, from a
            # generator or another pipeline upstream: emit them within this loop
            # iteration rather than hold them.
            self._emit_soon = self._event_loop().call_soon(self._on_timer)

    def _emit(self) -> None:
        """Send the current aggregate on; its source batches are done when it is."""
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        if self._emit_soon is not None:
            self._emit_soon.cancel()
            self._emit_soon = None
        if self.CurrentSize == 0:
            return
        aggregate = self.AggregationStrategy.flush()
        parents, self._held = self._held, []
        self._last_held = None
        self.CurrentSize = 0
        depth = self.Pipeline.Processors.index(self) + 1
        try:
            self.Pipeline.inject_batch([aggregate], [{}], depth, parents=parents)
        except BaseException:
            # The aggregate never got on its way: its batches must not stay open forever,
            # nor be acknowledged.
            for parent in parents:
                parent.fail()
                parent.done()
            raise

    def _on_timer(self) -> None:
        self._timeout = None
        self._emit_soon = None
        try:
            self._emit()
        except Exception:
            L.exception("%s: emitting an aggregate failed", self.location())

    def _on_interval(self) -> None:
        loop = self._event_loop()
        self._next_tick += self.CompletionInterval
        # A loop that fell behind skips missed ticks instead of firing them in a burst.
        if self._next_tick <= loop.time():
            self._next_tick = loop.time() + self.CompletionInterval
        self._interval = loop.call_at(self._next_tick, self._on_interval)
        self._on_timer()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def flush(self) -> None:
        """Emit what is held now, complete or not (call it when the pipeline drains)."""
        self._emit()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the interval timer and watch for the pipeline's sources to finish."""
        loop = self._loop = asyncio.get_running_loop()
        self._sources_finished = False
        if self.CompletionInterval > 0:
            self._next_tick = loop.time() + self.CompletionInterval
            self._interval = loop.call_at(self._next_tick, self._on_interval)
        if (
            self.CompletionTimeout == 0
            and self.CompletionInterval == 0
            and self.CompletionSize >= self.Pipeline.Config["max_in_flight"]
        ):
            L.warning(
                "%s: completion_size %d is not below the pipeline's max_in_flight %d and no "
                "completion_timeout or completion_interval is set: the pipeline may stall",
                self.location(),
                self.CompletionSize,
                self.Pipeline.Config["max_in_flight"],
            )
        # The pipeline starts its components before it creates the source tasks.
        self._watch = loop.call_soon(self._watch_sources)
        self.App.PubSub.subscribe("Application.tick!", self._check_exhausted)

    def _watch_sources(self) -> None:
        self._watch = None
        sources = self.Pipeline.Sources
        tasks = [s.task for s in sources]
        if any(t is None for t in tasks):
            self._watch = self._event_loop().call_later(_WATCH_RETRY, self._watch_sources)
            return
        self._sources_left = len(tasks)
        for task in tasks:
            assert task is not None
            task.add_done_callback(self._source_finished)
        for source in sources:
            if isinstance(source, InternalSource):
                source.watch_upstreams(self._check_exhausted)
        if any(s.internal for s in sources):
            self._watch = self._event_loop().call_later(_UPSTREAM_POLL, self._poll_upstream)

    def _poll_upstream(self) -> None:
        # Sources fed by other pipelines end only after those pipelines finished their events,
        # which may wait for this aggregate: look through them, often enough that a finite
        # run ends soon after its first sources (the 1 s application tick was too slow).
        self._watch = None
        self._check_exhausted()
        if not self._sources_finished:
            self._watch = self._event_loop().call_later(_UPSTREAM_POLL, self._poll_upstream)

    def _source_finished(self, task: asyncio.Task[None]) -> None:
        self._sources_left -= 1
        self._check_exhausted()

    def _check_exhausted(self, *_args: Any) -> None:
        # Sources fed by other pipelines end only after those pipelines finished their events,
        # which may wait for this aggregate: look through them (on every tick) instead.
        if not self._sources_finished and self.Pipeline.sources_exhausted():
            self._sources_finished = True
            self._on_timer()

    async def stop(self) -> None:
        """Stop the timers; emit anything still held (normally the drain already did)."""
        self.App.PubSub.unsubscribe("Application.tick!", self._check_exhausted)
        for handle in (self._interval, self._watch):
            if handle is not None:
                handle.cancel()
        self._interval = self._watch = None
        if self.CurrentSize:
            L.info("%s: emitting %d held event(s) at stop", self.location(), self.CurrentSize)
            self._on_timer()
