"""LatchAnalyzer: keeps the last `latch_max_size` events (those its query matches)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.analyzer.analyzer import Analyzer, AnalyzerConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

_LATCH = "latch"


class LatchAnalyzerConfig(AnalyzerConfig):
    """Settings of a LatchAnalyzer."""

    latch_max_size: int = Field(50, ge=0, description="Events kept (0: all)")


class LatchAnalyzer(Analyzer):
    """Keeps recent events in `self.Latch` (a deque): all of them (`query=True`), none
    (`False`), those a function accepts, or those whose fields equal a mapping's values
    (`{"status": 500}`; with `inclusive=True`, those that do not). Kept in state."""

    ConfigModel = LatchAnalyzerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        query: bool | Mapping[str, Any] | Callable[[Any], bool] = True,
        analyze_on_clock: bool = False,
        inclusive: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, analyze_on_clock=analyze_on_clock, id=id, config=config)
        size = int(self.Config["latch_max_size"])
        self.Latch: collections.deque[Any] = collections.deque(maxlen=size or None)
        self.Query = query
        self.Inclusive = inclusive

    def matches(self, event: Any) -> bool:
        """True when the event goes into the latch."""
        query = self.Query
        if query is True or query is False:
            return query
        if callable(query):
            matched = bool(query(event))
        else:
            matched = all(event.get(k) == v for k, v in query.items())
        return matched != self.Inclusive

    def process(self, context: dict[str, Any], event: Any) -> Any:
        if self.matches(event):
            self.Latch.append(event)
            part = self.state.partition_named("")
            part.data[_LATCH] = self.Latch
            part.changed.add(_LATCH)
        return event

    def restore(self) -> None:
        kept = self.state.partition_named("").data.get(_LATCH)
        if isinstance(kept, collections.deque):
            self.Latch = collections.deque(kept, maxlen=self.Latch.maxlen)
