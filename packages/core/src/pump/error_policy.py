"""Error policy: what a failed event does — stop the pipeline, skip it, or become a dead letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pump.deadletter import dead_letter_context, dead_letter_record
from pump.delivery import Batch
from pump.origin import event_origin
from pump.ratelimit import RateLimitedLog

if TYPE_CHECKING:
    from pump.component import Component
    from pump.pipeline import Pipeline
    from pump.sinkwriter import SinkWriter
    from pump.source import Source

# the parts of a pipeline log under its name, as they did when they were one module
L = logging.getLogger("pump.pipeline")

OnError = Literal["stop", "skip", "dead_letter"]


class PipelineError:
    """An error the pipeline saw: where, what, when."""

    __slots__ = ("component", "error", "event", "origin", "time")

    def __init__(self, component: str, error: BaseException, event: Any, origin: str = "") -> None:
        self.component = component
        self.error = error
        self.event = event
        #: Where the event came from (`file 'a.csv' line 7`, ...), when its source said.
        self.origin = origin
        self.time = time.time()

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (the event is shown as its repr, truncated)."""
        return {
            "component": self.component,
            "error": f"{type(self.error).__name__}: {self.error}",
            "origin": self.origin,
            "event": repr(self.event)[:500],
            "time": self.time,
        }


def describe(
    pipeline: Pipeline,
    component: Component | None,
    exc: BaseException,
    what: str = "",
    origin: str = "",
) -> str:
    """`<where>: [what: ]<Error>: <message> [(event from <origin>)]`, naming the component
    once even when the message already starts with its location."""
    where = component.location() if component is not None else f"pipeline '{pipeline.Id}'"
    message = str(exc).removeprefix(f"{where}: ")
    origin = f" (event from {origin})" if origin else ""
    return f"{where}: {what + ': ' if what else ''}{type(exc).__name__}: {message}{origin}"


class ErrorPolicy:
    """Applies a pipeline's `on_error` to failed events, one event at a time.

    The pipeline's `handle_error(exception, context, event)` (BSPump's overridable hook) makes
    the decision; while it runs, `batch` and `component` say which batch and component the
    event failed in.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.writer: SinkWriter | None = None  # set by the pipeline: dead letters go through it
        self.batch: Batch | None = None
        self.component: Component | None = None
        self._skips = RateLimitedLog(L, 1.0)
        # dead letters of this turn of the event loop, by batch: written together, soon
        self._letters: dict[Batch, tuple[list[Any], list[dict[str, Any]]]] = {}
        self._letters_soon: asyncio.Handle | None = None

    def event_failed(
        self, batch: Batch, component: Component, context: Any, event: Any, exc: BaseException
    ) -> bool:
        """Apply the error policy to one event; False means the pipeline stopped on it."""
        pipeline = self.pipeline
        pipeline.counters.errors += 1
        pipeline.errors.append(PipelineError(component.Id, exc, event))
        self.batch, self.component = batch, component
        try:
            handled = pipeline.handle_error(exc, context, event)
        finally:
            self.batch = self.component = None
        if not handled:
            batch.fail()
            pipeline.set_error(context, event, exc, component)
        else:
            # handled: its traceback is not needed, and would keep the failing frames (with a
            # whole batch in their locals) alive for as long as `errors` remembers it
            exc.__traceback__ = None
        return handled

    def source_errors(
        self,
        batch: Batch,
        source: Source | None,
        events: list[Any],
        context: Mapping[str, Any] | None,
        contexts: Sequence[dict[str, Any]] | None,
        errors: Mapping[int, BaseException],
    ) -> tuple[list[Any], list[dict[str, Any]] | None]:
        """Hand the events a source failed to decode to the error policy; return the others."""
        component: Component = source if source is not None else self.pipeline.sink
        for i in sorted(errors):
            event_context = contexts[i] if contexts is not None else dict(context or {})
            component.counters.errors += 1
            if not self.event_failed(batch, component, event_context, events[i], errors[i]):
                break
        kept = [i for i in range(len(events)) if i not in errors]
        return [events[i] for i in kept], None if contexts is None else [contexts[i] for i in kept]

    def handle(self, exception: BaseException, context: Any, event: Any) -> bool:
        """The default decision: True = handled (processing goes on), False = stop."""
        pipeline = self.pipeline
        policy = pipeline.Config.on_error
        component = self.component
        if policy == "skip":
            described = describe(
                pipeline, component, exception, "event skipped", event_origin(context)
            )
            self._skips.warning("%s", described)
            return True
        dead_letter = pipeline.dead_letter
        if policy == "dead_letter" and dead_letter is not None:
            if component is dead_letter:
                return False  # the dead-letter sink itself failed: nowhere left to put it
            batch = self.batch
            record = dead_letter_record(
                pipeline.Id,
                component.Id if component is not None else None,
                exception,
                event,
                context,
            )
            if batch is not None and self.writer is not None:
                self._queue_dead_letter(batch, record, dead_letter_context(context))
            return True
        return False

    def _queue_dead_letter(self, batch: Batch, record: Any, context: dict[str, Any]) -> None:
        """Queue a dead letter; the batch stays open until it is handed to the sink."""
        letters = self._letters.get(batch)
        if letters is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a test calling the pipeline directly): at once
                assert self.writer is not None and self.pipeline.dead_letter is not None
                self.writer.write(batch, self.pipeline.dead_letter, [record], [context])
                return
            letters = self._letters[batch] = ([], [])
            batch.hold()
            if self._letters_soon is None:
                self._letters_soon = loop.call_soon(self.write_dead_letters)
        letters[0].append(record)
        letters[1].append(context)

    def write_dead_letters(self) -> None:
        """Hand the queued dead letters to the dead-letter sink: one write per batch (a bad
        line in fifty costs one write a batch, not a write, a task and a sync each)."""
        if self._letters_soon is not None:
            self._letters_soon.cancel()
            self._letters_soon = None
        letters, self._letters = self._letters, {}
        sink = self.pipeline.dead_letter
        for batch, (records, contexts) in letters.items():
            assert self.writer is not None and sink is not None
            self.writer.write(batch, sink, records, contexts)
            batch.done()
