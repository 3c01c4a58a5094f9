"""A sink that collects events and their contexts into lists (tests, small jobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pump.sink import Sink

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class ListSink(Sink):
    """Appends every event to `events` and its context to `contexts` (same order)."""

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        #: Events written, in order.
        self.events: list[Any] = []
        #: Their contexts (the context objects themselves, not copies).
        self.contexts: list[dict[str, Any]] = []

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Collect one event."""
        self.events.append(event)
        self.contexts.append(context)

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        """Collect a batch."""
        self.events.extend(events)
        self.contexts.extend(contexts)

    def clear(self) -> None:
        """Forget what was collected."""
        self.events.clear()
        self.contexts.clear()
