"""Aggregation strategies: how the events an Aggregator holds become one aggregate event."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any


class AggregationStrategy(ABC):
    """Collects events (`append`) and turns them into one aggregate (`flush`)."""

    @abstractmethod
    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add one event to the current aggregate."""

    def extend(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Add a run of events (override when that can be done faster than one by one)."""
        for context, event in zip(contexts, events, strict=True):
            self.append(context, event)

    @abstractmethod
    def flush(self) -> Any:
        """Return the current aggregate and start a new, empty one."""

    @abstractmethod
    def is_empty(self) -> bool:
        """True when no event was appended since the last flush."""


class ListEventAggregationStrategy(AggregationStrategy):
    """The aggregate is the list of the events."""

    def __init__(self) -> None:
        self.AggregatedEvent: list[Any] = []

    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add the event to the list."""
        self.AggregatedEvent.append(event)

    def extend(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Add the events to the list (one by one where a subclass changed `append`)."""
        if type(self).append is ListEventAggregationStrategy.append:
            self.AggregatedEvent += events
        else:
            super().extend(contexts, events)

    def flush(self) -> list[Any]:
        """The list of events."""
        result, self.AggregatedEvent = self.AggregatedEvent, []
        return result

    def is_empty(self) -> bool:
        """True when the list is empty."""
        return not self.AggregatedEvent


class ListAggregationStrategy(ListEventAggregationStrategy):
    """The aggregate is a list of `(context, event)` pairs (BSPump's ListAggregationStrategy)."""

    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add the pair to the list."""
        self.AggregatedEvent.append((context, event))

    def extend(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Add the pairs to the list (one by one where a subclass changed `append`)."""
        if type(self).append is ListAggregationStrategy.append:
            self.AggregatedEvent += zip(contexts, events, strict=True)
        else:
            AggregationStrategy.extend(self, contexts, events)


class DictAggregationStrategy(AggregationStrategy):
    """The aggregate is one dict event wrapping the list: `{key: [event, ...]}`."""

    def __init__(self, key: str = "events") -> None:
        self.Key = key
        self.AggregatedEvent: list[Any] = []

    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add the event to the list."""
        self.AggregatedEvent.append(event)

    def flush(self) -> dict[str, list[Any]]:
        """The dict wrapping the list of events."""
        result, self.AggregatedEvent = self.AggregatedEvent, []
        return {self.Key: result}

    def is_empty(self) -> bool:
        """True when the list is empty."""
        return not self.AggregatedEvent


class StringAggregationStrategy(AggregationStrategy):
    """The aggregate is the events' `str()` joined by a delimiter (newline by default)."""

    def __init__(self, delimiter: str = "\n") -> None:
        self.Delimiter = delimiter
        self.AggregatedEvent: list[str] = []

    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add the event's text."""
        self.AggregatedEvent.append(event if type(event) is str else str(event))

    def flush(self) -> str:
        """The joined text."""
        result, self.AggregatedEvent = self.AggregatedEvent, []
        return self.Delimiter.join(result)

    def is_empty(self) -> bool:
        """True when nothing was appended."""
        return not self.AggregatedEvent
