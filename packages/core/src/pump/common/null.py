"""Sinks that keep nothing: NullSink discards, CountingSink discards and counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pump.sink import Sink


class NullSink(Sink):
    """Discards every event; each is done (acknowledged) at once."""

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Discard one event."""

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        """Discard a batch."""


class CountingSink(Sink):
    """Discards events and counts them (`count`) and the batches they came in (`batches`)."""

    count = 0
    batches = 0

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Count one event."""
        self.count += 1

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        """Count a batch."""
        self.count += len(events)
        self.batches += 1
