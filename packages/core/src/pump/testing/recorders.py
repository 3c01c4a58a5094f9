"""Observers for tests: when a sink's writes completed, and what a source handed over and acked.

They wrap methods on the instance (never on the class), so the component under test keeps
its own behaviour and other instances are untouched. Every observation carries a `tick` from
one shared counter, so "acknowledged before the write completed" is a comparison of ints.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Hashable, Sequence
from typing import Any

import orjson

from pump.delivery import Batch
from pump.errors import PartialWriteError
from pump.pipeline import Pipeline
from pump.sink import Sink
from pump.source import Source

_TICKS = itertools.count(1)


def tick() -> int:
    """The next number of the shared observation order."""
    return next(_TICKS)


def event_key(event: Any) -> Hashable:
    """A hashable fingerprint of an event's content (JSON with sorted keys where possible)."""
    if isinstance(event, (bytes, bytearray, memoryview)):
        return b"b:" + bytes(event)
    try:
        return b"j:" + orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return "r:" + repr(event)


class InjectedWriteError(ConnectionError):
    """A write failure injected by a test (the destination 'refused' the batch)."""


class CompletedWrite:
    """A write the sink reported done: its events, their contexts, and when."""

    __slots__ = ("contexts", "events", "tick")

    def __init__(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        self.events = events
        self.contexts = contexts
        self.tick = tick()


class WriteRecorder:
    """Wraps `sink.write` to record each write at the moment the sink reports it done.

    Done means `write` returned None, or the awaitable it returned completed; the events a
    `PartialWriteError` names as failed are not recorded. `fail_next = n` makes the next n
    calls raise `InjectedWriteError` without reaching the sink. What a sink hands back for a
    failed event (`PartialWriteError.events`: a file sink's encoded record) is recorded, once
    written again, as the event it stands for.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.completed: list[CompletedWrite] = []
        self.calls = 0
        self.failures = 0
        self.injected = 0
        self.fail_next = 0
        self._write = sink.write
        self._stand_ins: dict[int, tuple[Any, Any]] = {}  # id(stand-in) → (it, its event)
        sink.write = self._wrapped  # type: ignore[method-assign]

    def remove(self) -> None:
        """Give the sink its own `write` back."""
        if self.sink.__dict__.get("write") == self._wrapped:
            del self.sink.__dict__["write"]

    @property
    def outputs(self) -> list[tuple[dict[str, Any], Any]]:
        """(context, event) of every event written, in completion order."""
        return [
            (context, event)
            for write in self.completed
            for context, event in zip(write.contexts, write.events, strict=True)
        ]

    @property
    def events(self) -> list[Any]:
        """Every event written, in completion order."""
        return [event for write in self.completed for event in write.events]

    def _wrapped(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            self.injected += 1
            raise InjectedWriteError("pump.testing: injected write failure")
        # Snapshots for the record; the sink gets the very lists the pipeline passed.
        written = list(events)
        if self._stand_ins:
            written = [self._stand_ins.get(id(e), (e, e))[1] for e in written]
        snapshots = [dict(c) for c in contexts]
        try:
            pending = self._write(events, contexts)
        except PartialWriteError as exc:
            self._partly_done(written, snapshots, exc)
            raise
        except Exception:
            self.failures += 1
            raise
        if pending is None:
            self.completed.append(CompletedWrite(written, snapshots))
            return None
        return self._finish(pending, written, snapshots)

    async def _finish(
        self, pending: Awaitable[None], events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> None:
        try:
            await pending
        except PartialWriteError as exc:
            self._partly_done(events, contexts, exc)
            raise
        except Exception:
            self.failures += 1
            raise
        self.completed.append(CompletedWrite(events, contexts))

    def _partly_done(
        self, events: list[Any], contexts: Sequence[dict[str, Any]], exc: PartialWriteError
    ) -> None:
        self.failures += 1
        if exc.events is not None:
            for i, stand_in in exc.events.items():
                if 0 <= i < len(events) and stand_in is not events[i]:
                    self._stand_ins[id(stand_in)] = (stand_in, events[i])
        kept = [i for i in range(len(events)) if i not in exc.errors]
        if kept:
            self.completed.append(
                CompletedWrite([events[i] for i in kept], [contexts[i] for i in kept])
            )


class Handover:
    """A batch a source handed to its pipeline, and the acknowledge()/reject() calls it got."""

    __slots__ = ("acknowledged", "batch", "events", "rejected", "tick")

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.batch: Batch | None = None
        self.tick = tick()
        self.acknowledged: list[int] = []  # ticks of the acknowledge() calls
        self.rejected: list[int] = []  # ticks of the reject() calls

    @property
    def settled(self) -> bool:
        """Acknowledged or rejected at least once."""
        return bool(self.acknowledged or self.rejected)


class HandoverRecorder:
    """Records the batches `source` hands to `pipeline` and the source's acknowledge()/reject().

    Wraps `pipeline.process_batch` (every hand-over goes through it) and the source's
    `acknowledge`/`reject`, which also catches a source that acknowledges on its own.
    """

    def __init__(self, pipeline: Pipeline, source: Source) -> None:
        self.pipeline = pipeline
        self.source = source
        self.handovers: list[Handover] = []
        self.stray: list[tuple[str, Any]] = []  # acks/rejects of batches never handed over
        self._by_batch: dict[Batch, Handover] = {}
        self._current: Handover | None = None
        self._process_batch = pipeline.process_batch
        self._acknowledge = source.acknowledge
        self._reject = source.reject
        pipeline.process_batch = self._wrapped_process_batch  # type: ignore[method-assign]
        source.acknowledge = self._wrapped_acknowledge  # type: ignore[method-assign]
        source.reject = self._wrapped_reject  # type: ignore[method-assign]

    @property
    def handed_over(self) -> int:
        """Events handed over so far."""
        return sum(len(h.events) for h in self.handovers)

    def acknowledged(self) -> list[Handover]:
        """Hand-overs acknowledged at least once."""
        return [h for h in self.handovers if h.acknowledged]

    def rejected(self) -> list[Handover]:
        """Hand-overs rejected at least once."""
        return [h for h in self.handovers if h.rejected]

    def _wrapped_process_batch(self, *args: Any, **kwargs: Any) -> Batch | None:
        source = kwargs["source"] if "source" in kwargs else (args[3] if len(args) > 3 else None)
        if source is not self.source:
            return self._process_batch(*args, **kwargs)
        events = kwargs["events"] if "events" in kwargs else args[0]
        handover = Handover(list(events))
        self.handovers.append(handover)
        # The batch may complete (and be acknowledged) before process_batch returns.
        previous, self._current = self._current, handover
        try:
            batch = self._process_batch(*args, **kwargs)
        finally:
            self._current = previous
        if batch is not None:
            handover.batch = batch
            self._by_batch.setdefault(batch, handover)
        return batch

    def _find(self, batch: Batch) -> Handover | None:
        handover = self._by_batch.get(batch)
        if handover is None and self._current is not None and self._current.batch is None:
            handover = self._current
            handover.batch = batch
            self._by_batch[batch] = handover
        return handover

    def _wrapped_acknowledge(self, batch: Batch) -> None:
        handover = self._find(batch)
        if handover is None:
            self.stray.append(("acknowledge", batch))
        else:
            handover.acknowledged.append(tick())
        self._acknowledge(batch)

    def _wrapped_reject(self, batch: Batch) -> None:
        handover = self._find(batch)
        if handover is None:
            self.stray.append(("reject", batch))
        else:
            handover.rejected.append(tick())
        self._reject(batch)
