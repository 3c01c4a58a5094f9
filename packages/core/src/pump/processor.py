"""Processor (one event in, at most one out, sync) and Generator (one in, many out, async)."""

from __future__ import annotations

from typing import Any, ClassVar

from pump.component import Component


class Processor(Component):
    """Transforms events; `process` returns the event, or None to drop (and acknowledge) it."""

    #: True when `process` writes into `context`: each event then gets its own context dict.
    writes_context: ClassVar[bool] = False
    #: True when returning None means "taken into an aggregate", not "dropped" (metrics only).
    consumes_events: ClassVar[bool] = False

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Return the (possibly new) event, or None to drop it."""
        return event

    async def flush(self) -> None:
        """Emit anything held (called when the pipeline drains, before it waits for in-flight)."""


class Generator(Processor):
    """Turns one event into zero or more: `generate` calls `self.Pipeline.inject(...)` per child."""

    async def generate(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Inject children with `self.Pipeline.inject(context, child, depth)`; may await."""
        raise NotImplementedError
