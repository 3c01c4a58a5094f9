"""Source: where events enter a pipeline. It waits for `ready()`, so memory stays bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pump.component import Component

if TYPE_CHECKING:
    from pump.application import Application
    from pump.delivery import Batch
    from pump.pipeline import Pipeline as _Pipeline
    from pump.state.position import StreamPosition


class Source(Component):
    """Produces events in `main()`; calls `emit`/`process`, which wait for the pipeline.

    A source that can acknowledge (a broker, a file position) overrides `acknowledge(batch)`,
    called once every event of the batch is done, and `reject(batch)`, called when an event of
    it failed and the pipeline stopped; the batch's `token` is whatever the source passed to
    `emit`.
    """

    Pipeline: _Pipeline  # a source always has one
    #: True for sources fed by other pipelines; they keep running while those drain.
    internal: ClassVar[bool] = False

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.task: asyncio.Task[None] | None = None

    async def main(self) -> None:
        """Produce events until there are no more (return) or the source is stopped (cancel)."""
        raise NotImplementedError(f"{self.location()} does not implement main()")

    async def emit(
        self,
        events: list[Any],
        context: Mapping[str, Any] | None = None,
        *,
        contexts: Sequence[dict[str, Any]] | None = None,
        token: Any = None,
        errors: Mapping[int, BaseException] | None = None,
    ) -> Batch | None:
        """Hand a batch over: one shared `context`, or one dict per event in `contexts`.

        `errors` maps indexes of events that could not be decoded (the raw input) to their
        error: the pipeline's `on_error` policy handles them, the others go on.
        """
        await self.Pipeline.ready()
        return self.Pipeline.process_batch(
            events, context=context, contexts=contexts, source=self, token=token, errors=errors
        )

    async def process(self, event: Any, context: dict[str, Any] | None = None) -> None:
        """Hand over one event (BSPump's shape); `emit` is faster for many."""
        await self.Pipeline.ready()
        self.Pipeline.process_batch(
            [event], contexts=[context if context is not None else {}], source=self
        )

    def stream_position(
        self, batch: Batch, contexts: Sequence[dict[str, Any]]
    ) -> StreamPosition | None:
        """Where the events of `batch` (these `contexts`, in order) are: partition, stream,
        first and last position, and the context key of each event's position.

        Stateful processors scope their state by the partition and checkpoint the positions,
        so that after a crash events the restored state already reflects are not applied
        twice. A source without positions returns None (the default): its events share one
        partition and replays cannot be recognized. Called once per batch and stateful
        processor; `contexts` may be a generator's children (then without positions).
        """
        return None

    def backlog(self, partition: str) -> bool:
        """True while events of `partition` (named as `stream_position` names it) wait in the
        source: read or known to be there, not handed over yet. A window does not count such
        a partition idle however long it has been silent (its events are on their way, held
        up by the pipeline). The default, False, says nothing is known."""
        return False

    def unacknowledged_limit(self) -> int | None:
        """How many handed-over events may wait for acknowledgement before no more come
        (RabbitMQ's prefetch count), or None when unbounded (the default).

        Stateful processors acknowledge at checkpoints: a pipeline with such a source
        checkpoints whenever half that many events wait, so the source never stalls.
        """
        return None

    def exhausted(self) -> bool:
        """True when this source will hand over nothing more (its `main()` has returned)."""
        return self.task is not None and self.task.done()

    def acknowledge(self, batch: Batch) -> None:
        """Every event of `batch` is done: commit or ack it."""

    def reject(self, batch: Batch) -> None:
        """An event of `batch` failed and was not handled: never acknowledge it."""

    def settled(self, batch: Batch) -> None:
        """Every event of `batch` is done or absorbed into state; it is acknowledged once the
        checkpoint holding them is durable (a source fed by another pipeline passes this on)."""
