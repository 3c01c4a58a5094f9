"""ThresholdAnalyzer: per key, an alarm event whenever a value crosses a bound."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.analyzer.analyzer import Analyzer, AnalyzerConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

WITHIN, ABOVE, BELOW = "within", "above", "below"


class ThresholdAnalyzerConfig(AnalyzerConfig):
    """Settings of a ThresholdAnalyzer."""

    event_attribute: str = Field("", description="Field of the key (empty: one global key)")
    load_event: str = Field(..., description="Field of the value compared with the bounds")
    lower_bound: float = Field(-math.inf, description="Below it, a value is low")
    upper_bound: float = Field(math.inf, description="Above it, a value is high")


class ThresholdAnalyzer(Analyzer):
    """Passes events on; when a key's value goes above `upper_bound`, below `lower_bound`, or
    back within them, emits an alarm event after this processor:
    `{"key", "value", "state": "above"|"below"|"within", "previous", "lower_bound",
    "upper_bound"}` (override `alarm` to shape it; None emits nothing). A key starts within
    the bounds; its last state is kept in the processor's state, per source partition."""

    ConfigModel = ThresholdAnalyzerConfig
    Config: ThresholdAnalyzerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, analyze_on_clock=analyze_on_clock, id=id, config=config)
        self.Key = self.Config.event_attribute
        self.Load = self.Config.load_event
        self.Lower = self.Config.lower_bound
        self.Upper = self.Config.upper_bound

    def predicate(self, context: dict[str, Any], event: Any) -> bool:
        """Events that carry the value (and the key, if one is set)."""
        return self.Load in event and (not self.Key or self.Key in event)

    def process(self, context: dict[str, Any], event: Any) -> Any:
        if not self.predicate(context, event):
            return event
        value = event[self.Load]
        key = event[self.Key] if self.Key else None
        state = ABOVE if value > self.Upper else BELOW if value < self.Lower else WITHIN
        previous = self.state.get(key, WITHIN)
        if state != previous:
            self.state[key] = state
            alarm = self.alarm(key, value, state, previous)
            if alarm is not None:
                self.emit([alarm])
        return event

    def alarm(self, key: Any, value: Any, state: str, previous: str) -> Any:
        """The event a crossing emits (None: nothing)."""
        return {
            "key": key,
            "value": value,
            "state": state,
            "previous": previous,
            "lower_bound": self.Lower,
            "upper_bound": self.Upper,
        }
