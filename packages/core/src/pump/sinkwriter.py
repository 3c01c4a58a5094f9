"""Sink writing: a batch's events go to a sink; transient failures are retried with backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pump.backoff import Backoff
from pump.delivery import Batch
from pump.errors import DeadLetterError, PartialWriteError, PermanentWriteError, PumpError
from pump.sink import Sink
from pump.waiting import wait_event

if TYPE_CHECKING:
    from pump.dispatch import Dispatcher
    from pump.error_policy import ErrorPolicy
    from pump.pipeline import Pipeline
    from pump.taskgroup import TaskGroup

# the parts of a pipeline log under its name, as they did when they were one module
L = logging.getLogger("pump.pipeline")

#: Retries of a dead-letter write when `sink_retries` is -1 (forever): a dead-letter sink that
#: stays down stops the pipeline instead of holding its events back without end.
DEAD_LETTER_RETRIES = 10


class SinkWriter:
    """Writes events to a sink for a batch and keeps the batch open until they are written.

    A write that fails is retried (`sink_retries` times, `retry_backoff` doubling up to
    `retry_backoff_max`), only the failed events of a `PartialWriteError`; events a sink
    fails with `PermanentWriteError` go to the error policy at once. Once the pipeline
    stops, a failing write gets one last attempt and is then given up: its batch is not
    acknowledged, so its source delivers it again.
    """

    def __init__(self, pipeline: Pipeline, policy: ErrorPolicy, tasks: TaskGroup) -> None:
        self.pipeline = pipeline
        self.policy = policy
        self.tasks = tasks
        #: Set by the pipeline right after (it knows the batch being written).
        self.dispatcher: Dispatcher
        #: Events whose writes were given up because the pipeline stopped.
        self.given_up = 0
        self._stopping = asyncio.Event()

    def stopping(self, stop: bool = True) -> None:
        """The pipeline stops (retries end after one more attempt) or, `stop=False`, starts."""
        if stop:
            self._stopping.set()
        else:
            self._stopping.clear()
            self.given_up = 0

    def write(
        self, batch: Batch, sink: Sink, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> None:
        """Write `events` for `batch`; the batch stays open until they are written or handled."""
        sink.counters.events_in += len(events)
        try:
            pending = self._call_write(batch, sink, events, contexts)
        except Exception as exc:
            batch.hold()
            self.tasks.spawn(self._retry(batch, sink, events, contexts, exc))
            return
        if pending is None:  # written at once: the batch needs no hold for it
            self._written(batch, sink, len(events), release=False)
        else:
            batch.hold()
            kept = None if sink.keeps_failed_events else events
            self.tasks.spawn(self._await_write(batch, sink, kept, contexts, pending))

    async def _await_write(
        self,
        batch: Batch,
        sink: Sink,
        events: list[Any] | None,
        contexts: Sequence[dict[str, Any]],
        pending: Any,
    ) -> None:
        """Wait for a write; `events` is None when the sink hands back the failed ones."""
        try:
            await pending
        except Exception as exc:
            if events is None and not (
                isinstance(exc, PartialWriteError) and exc.events is not None
            ):
                self._lost(batch, sink, exc)
                return
            await self._retry(batch, sink, events, contexts, exc)
        else:
            self._written(batch, sink, len(contexts))

    def _lost(self, batch: Batch, sink: Sink, exc: BaseException) -> None:
        """A sink that keeps its failed events failed without them: nothing is left to retry,
        so the batch is not acknowledged (its source delivers it again) and the pipeline stops."""
        error = PumpError(
            f"{sink.location()} failed a write without handing back its events, so nothing is "
            f"left to retry; the batch will be delivered again ({type(exc).__name__}: {exc})"
        )
        error.__cause__ = exc
        batch.fail()
        self.pipeline.set_error(None, None, error, sink)
        batch.done()

    async def _retry(
        self,
        batch: Batch,
        sink: Sink,
        events: list[Any] | None,
        contexts: Sequence[dict[str, Any]],
        exc: BaseException,
    ) -> None:
        """Write the failed events again with backoff; when retries run out, apply on_error.

        `events` is None when `exc` carries them (`PartialWriteError.events`)."""
        config = self.pipeline.Config
        retries = config.sink_retries
        if retries < 0 and sink is self.pipeline.dead_letter:
            retries = DEAD_LETTER_RETRIES
        maximum = config.retry_backoff_max
        backoff = Backoff(
            min(config.retry_backoff, maximum),
            maximum,
            jitter=0.0,
            attempts=None if retries < 0 else retries,
        )
        last_attempt = False
        while True:
            failed = self._sort_out(batch, sink, events, contexts, exc)
            if failed is None:
                break
            events, contexts, exc = failed
            if last_attempt:
                self._give_up(batch, sink, events, exc)
                break
            if backoff.exhausted:
                self._fail_all(batch, sink, events, contexts, exc, backoff.attempt)
                break
            delay = backoff.next_delay()
            sink.counters.warnings += 1
            self.pipeline.counters.warnings += 1
            L.warning(
                "%s: write of %d event(s) failed (%s: %s); retry %d in %.2fs",
                sink.location(),
                len(events),
                type(exc).__name__,
                exc,
                backoff.attempt,
                delay,
            )
            last_attempt = await self._pause(delay)
            try:
                pending = self._call_write(batch, sink, events, contexts)
                if pending is not None:
                    await pending
            except Exception as again:
                exc = again
                continue
            self._written(batch, sink, len(events), release=False)
            break
        # not in a `finally`: a cancelled retry must not complete (acknowledge) its batch
        batch.done()

    def _sort_out(
        self,
        batch: Batch,
        sink: Sink,
        events: list[Any] | None,
        contexts: Sequence[dict[str, Any]],
        exc: BaseException,
    ) -> tuple[list[Any], Sequence[dict[str, Any]], BaseException] | None:
        """Count what a failed write did write, hand its permanent failures to the error
        policy; the events to retry and their first error, or None when none are left."""
        if isinstance(exc, PartialWriteError):
            n = len(contexts)
            failed = sorted(i for i in exc.errors if 0 <= i < n)
            self._written(batch, sink, n - len(failed), release=False)
            errors = [exc.errors[i] for i in failed]
            given = events if exc.events is None else exc.events
            assert given is not None  # _await_write made sure
            events = [given[i] for i in failed]
            contexts = [contexts[i] for i in failed]
        else:
            assert events is not None
            errors = [exc] * len(events)
        if not events:
            return None
        sink.counters.errors += len(events)
        if not any(isinstance(e, PermanentWriteError) for e in errors):
            return events, contexts, errors[0]
        retry_events, retry_contexts, retry_errors = [], [], []
        for event, context, error in zip(events, contexts, errors, strict=True):
            if not isinstance(error, PermanentWriteError):
                retry_events.append(event)
                retry_contexts.append(context)
                retry_errors.append(error)
            elif not self._failed(batch, sink, context, event, error, "cannot be written"):
                return None  # the pipeline stopped on it
        if not retry_events:
            return None
        return retry_events, retry_contexts, retry_errors[0]

    def _fail_all(
        self,
        batch: Batch,
        sink: Sink,
        events: list[Any],
        contexts: Sequence[dict[str, Any]],
        exc: BaseException,
        retried: int,
    ) -> None:
        """Retries ran out: each event goes to the error policy."""
        for context, event in zip(contexts, events, strict=False):
            if not self._failed(
                batch, sink, context, event, exc, f"failed after {retried} retries"
            ):
                break

    def _failed(
        self,
        batch: Batch,
        sink: Sink,
        context: Any,
        event: Any,
        exc: BaseException,
        why: str,
    ) -> bool:
        event = sink.event_of(event)
        if sink is self.pipeline.dead_letter:
            origin = event.get("component") if isinstance(event, dict) else None
            where = f" that failed in '{origin}'" if origin else ""
            exc = DeadLetterError(
                f"{sink.location()}: the dead letter of an event{where} {why}; the pipeline "
                f"stops, the batch will be delivered again ({type(exc).__name__}: {exc})"
            )
        return self.policy.event_failed(batch, sink, context, event, exc)

    def _give_up(self, batch: Batch, sink: Sink, events: list[Any], exc: BaseException) -> None:
        """The pipeline stops: leave the events unwritten and their batch unacknowledged."""
        batch.fail()
        self.given_up += len(events)
        L.warning(
            "%s: pipeline stopping; gave up writing %d event(s) (%s: %s); not acknowledged, "
            "they will be delivered again",
            sink.location(),
            len(events),
            type(exc).__name__,
            exc,
        )

    async def _pause(self, delay: float) -> bool:
        """Sleep `delay` seconds, less if the pipeline stops meanwhile; True when it does."""
        return await wait_event(self._stopping, delay)

    def _call_write(
        self, batch: Batch, sink: Sink, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Any:
        # a router sink holds the batch it writes for (current_batch), so set it during write
        dispatcher = self.dispatcher
        previous, dispatcher.current = dispatcher.current, batch
        try:
            return sink.write(events, contexts)
        finally:
            dispatcher.current = previous

    def _written(self, batch: Batch, sink: Sink, n: int, release: bool = True) -> None:
        sink.counters.events_out += n
        pipeline = self.pipeline
        if sink is pipeline.dead_letter:
            pipeline.dead_lettered += n
        else:
            pipeline.counters.events_out += n
        if release:
            batch.done()
