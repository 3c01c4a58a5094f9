"""Sink: the end of a pipeline. It reports an event done only once the event is durable."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar

from pump.component import Component
from pump.errors import PartialWriteError


class Sink(Component):
    """Writes events out.

    Implement `process(context, event)` for a synchronous per-event write (BSPump's shape), or
    override `write(events, contexts)` to write a whole batch: return None when the batch is
    written, or an awaitable that completes when the batch is durable. Raise to fail the whole
    batch, or raise `PartialWriteError` naming the indexes that failed. Failed events are retried
    by the pipeline and then handed to its `on_error` policy; nothing is acknowledged before the
    write succeeded. An event that can never be written (it cannot be serialized, the server
    rejects it as invalid) fails with `PermanentWriteError`: it goes to `on_error` at once.
    """

    #: True when the awaitable of write() fails only with a `PartialWriteError` that carries
    #: every failed event in `events` (or what stands for it: a file sink's encoded record, which
    #: write() takes again). The pipeline then lets go of the events once write() returned,
    #: while they are still in the CPU's cache, instead of holding them until they are written.
    keeps_failed_events: ClassVar[bool] = False

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Write one event synchronously."""
        raise NotImplementedError(f"{self.location()} implements neither process() nor write()")

    def write(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        """Write a batch; None means written, an awaitable means written when it completes."""
        process = self.process
        errors: dict[int, BaseException] | None = None
        for i, (context, event) in enumerate(zip(contexts, events, strict=False)):
            try:
                process(context, event)
            except Exception as exc:
                if errors is None:
                    errors = {}
                errors[i] = exc
        if errors:
            if len(errors) == len(events):
                raise errors[0]
            raise PartialWriteError(errors)
        return None

    def event_of(self, handed_back: Any) -> Any:
        """The event a failed write's handed-back item stands for, as the error policy gets it
        (the item itself, unless the sink hands back stand-ins such as encoded records)."""
        return handed_back

    async def flush(self) -> None:
        """Write out anything buffered now (called when the pipeline drains)."""
