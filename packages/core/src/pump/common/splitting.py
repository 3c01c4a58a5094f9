"""Generators that emit one event per part of an event (an iterable's items, a dict's keys...)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pump.processor import Generator, Processor

if TYPE_CHECKING:
    from pump.pipeline import Pipeline


class SplitGenerator(Generator):
    """Base: injects one child event per part of an event, each with its own context if needed.

    Subclasses set `parts` (the event → its parts) and `expected` (the type events must have).
    """

    Pipeline: Pipeline
    parts: Callable[[Any], Iterable[Any]]
    expected: type | tuple[type, ...] = object
    _copy_context = False

    async def start(self) -> None:
        """Note whether a later processor writes its context (children then need copies)."""
        processors = self.Pipeline.Processors
        later = processors[processors.index(self) + 1 :] if self in processors else processors
        self._copy_context = any(isinstance(p, Processor) and p.writes_context for p in later)

    async def generate(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Inject one child event per part."""
        if not isinstance(event, self.expected):
            raise TypeError(
                f"{self.location()}: expected {self._expected_name()}, got {type(event).__name__}"
            )
        inject = self.Pipeline.inject
        if self._copy_context:
            for part in self.parts(event):
                inject(dict(context), part, depth)
        else:
            for part in self.parts(event):
                inject(context, part, depth)

    def _expected_name(self) -> str:
        return "an iterable" if self.expected is Iterable else "a dict"


class IteratorGenerator(SplitGenerator):
    """Emits each item of an iterable event (a list, a tuple, a generator...) as an event."""

    parts = iter
    expected = Iterable
