"""Processor (one event in, at most one out, sync) and Generator (one in, many out, async)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pump.component import Component
from pump.state.store import State

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

#: How a processor that is one function of the event runs in the compiled loop:
#: "map" (the result is the new event, None drops), "keep" (a true result keeps the event),
#: "drop" (a true result drops it).
InlineKind = Literal["map", "keep", "drop"]


class Processor(Component):
    """Transforms events; `process` returns the event, or None to drop (and acknowledge) it.

    A processor that works better on a whole batch overrides `process_batch`: the pipeline then
    calls it once per batch instead of `process` once per event. If it raises, the error policy
    is applied to every event of that batch.
    """

    #: True when `process` writes into `context`: each event then gets its own context dict.
    writes_context: ClassVar[bool] = False
    #: True when returning None means "taken into an aggregate", not "dropped" (metrics only).
    consumes_events: ClassVar[bool] = False
    #: Set when the processor is nothing but `f(event)`: the compiled loop then calls `f` itself,
    #: one call per event instead of a call into an adapter that calls `f`.
    inline: tuple[InlineKind, Callable[[Any], Any]] | None = None
    #: True for a processor with keyed, checkpointed state in `self.state` (docs/state.md):
    #: the events it returns None for are absorbed into the state, acknowledged once a
    #: checkpoint holding them is durable, and no longer count against `max_in_flight`.
    stateful: ClassVar[bool] = False
    #: The keyed state (stateful processors only).
    state: State

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        if self.stateful:
            self.state = State(self)

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Return the (possibly new) event, or None to drop it."""
        return event

    def process_batch(
        self, contexts: Sequence[dict[str, Any]], events: list[Any]
    ) -> list[Any] | None:
        """One result per event of a batch (None drops it), or None when all pass unchanged."""
        # overriding this makes the processor a batch processor (see docs/architecture.md);
        # the default gives exactly the per-event `process` semantics
        return [self.process(c, e) for c, e in zip(contexts, events, strict=True)]

    def partitions_assigned(self, partitions: list[str]) -> None:
        """A source of the pipeline owns these partitions now (named as its state partitions,
        `topic[3]`; a stateful processor's state of them is restored already): e.g. windows
        count them in the watermark at once, before they deliver."""

    def partitions_revoked(self, partitions: list[str]) -> None:
        """A source of the pipeline no longer owns these partitions (a stateful processor's
        state of them was checkpointed and dropped): e.g. windows stop counting them in the
        watermark."""

    def replay(self, context: dict[str, Any], event: Any) -> Any:
        """A stateful processor's `process` for an event its restored state already reflects.

        After a crash the source delivers again from its committed position; events at or
        below the restored checkpoint's position were applied to the state before, and were
        either absorbed or done when the checkpoint was written. The default drops them.
        """
        return None

    def state_loaded(self, partition: str) -> None:
        """A stateful processor's partition was restored into `self.state` (on its first batch,
        or when the source was assigned it); e.g. to learn what it held."""

    async def flush(self) -> None:
        """Emit anything held (called when the pipeline drains, before it waits for in-flight)."""


class Generator(Processor):
    """Turns one event into zero or more: `generate` calls `self.Pipeline.inject(...)` per child."""

    async def generate(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Inject children with `self.Pipeline.inject(context, child, depth)`; may await."""
        raise NotImplementedError
