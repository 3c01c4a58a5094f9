"""Analyzer: a processor that passes events on unchanged and learns from them (BSPump's shape).

`process` calls `evaluate(context, event)` for each event `predicate` accepts and returns the
event; `analyze()` looks at what was learned, on demand or every `analyze_period` seconds
(`analyze_on_clock=True`). What the analyzer keeps is state (`self.state`): a subclass that
keeps its own object (a matrix) stores it there with `store`, so a checkpoint keeps it and a
restart finds it again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from pump.config import ComponentConfig
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

    _Pipeline = Pipeline  # the name `Pipeline` is the attribute inside the class body

L = logging.getLogger(__name__)


class AnalyzerConfig(ComponentConfig):
    """Settings of an Analyzer."""

    analyze_period: float = Field(
        60, gt=0, description="Seconds between analyses (with analyze_on_clock)"
    )


class Analyzer(Processor):
    """Passes events on; `evaluate`s those its `predicate` accepts; `analyze`s on a clock."""

    Pipeline: _Pipeline
    ConfigModel: ClassVar[type[ComponentConfig]] = AnalyzerConfig
    stateful = True

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline | None = None,
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.AnalyzePeriod = float(self.Config["analyze_period"])
        self.AnalyzeOnClock = analyze_on_clock
        self._clock: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None

    # -- the implementation interface (BSPump's names) ---------------------------------------

    def predicate(self, context: dict[str, Any], event: Any) -> bool:
        """True when the event is worth evaluating (default: every event)."""
        return True

    def evaluate(self, context: dict[str, Any], event: Any) -> None:
        """Record what the event says into the analyzed object."""

    def analyze(self) -> Any:
        """Look at the analyzed object (may be a coroutine function)."""
        return None

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Evaluate the event if the predicate accepts it; pass it on unchanged."""
        if self.predicate(context, event):
            self.evaluate(context, event)
            self.changed()
        return event

    def changed(self) -> None:
        """The analyzed object changed (a subclass that keeps it in state marks it here)."""

    # -- the clock -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore what state holds, then start the analysis clock."""
        await super().start()
        self.restore()
        if self.AnalyzeOnClock:
            loop = asyncio.get_running_loop()
            self._clock = loop.call_later(self.AnalyzePeriod, self._on_clock_tick)

    def restore(self) -> None:
        """Take the analyzed object back from state (after a restart)."""

    def _on_clock_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._clock = loop.call_later(self.AnalyzePeriod, self._on_clock_tick)
        if self._running is not None and not self._running.done():
            return  # the previous analysis is still running: skip this tick
        self._running = loop.create_task(self._analyze_now())

    async def _analyze_now(self) -> None:
        try:
            result = self.analyze()
            if inspect.isawaitable(result):
                await result
        except Exception:
            L.exception("%s: analyze() failed", self.location())

    async def stop(self) -> None:
        """Stop the clock."""
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        if self._running is not None and not self._running.done():
            self._running.cancel()
        await super().stop()

    def emit(self, events: list[Any]) -> None:
        """Send events (alarms, results of an analysis) on to the processors after this one."""
        self.state.emit(events)
