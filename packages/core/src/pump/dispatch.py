"""Dispatch: runs a batch through a pipeline's compiled segments and generators to its sink."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pump.chain import Segment
from pump.context import NumberedContexts, SharedContext
from pump.delivery import Batch
from pump.errors import ContextWriteError, PartialBatchError
from pump.processor import Generator, Processor
from pump.sink import Sink

if TYPE_CHECKING:
    from pump.error_policy import ErrorPolicy
    from pump.pipeline import Pipeline
    from pump.sinkwriter import SinkWriter
    from pump.taskgroup import TaskGroup

#: Children a Generator injects are sent on in batches of at most this many.
INJECT_BATCH = 1024

# marks an event that failed in a batch processor's per-event rerun (None means dropped)
_FAILED = object()


def is_batch_processor(processor: object) -> bool:
    """True for a Processor (not a Generator) with its own `process_batch`."""
    # overridden where `process` is or below: a subclass that overrides only `process` of a
    # batch processor runs per event
    if not isinstance(processor, Processor) or isinstance(processor, Generator):
        return False
    mro = type(processor).__mro__
    batch_owner = next(c for c in mro if "process_batch" in c.__dict__)
    process_owner = next(c for c in mro if "process" in c.__dict__)
    return batch_owner is not Processor and issubclass(batch_owner, process_owner)


class _Injected:
    """Children collected from a Generator run, dispatched as batches rather than one by one."""

    __slots__ = ("batch", "by_depth", "dispatcher")

    def __init__(self, dispatcher: Dispatcher, batch: Batch) -> None:
        self.dispatcher = dispatcher
        self.batch = batch
        self.by_depth: dict[int, tuple[list[dict[str, Any]], list[Any]]] = {}


_INJECTED: contextvars.ContextVar[_Injected | None] = contextvars.ContextVar(
    "pump_injected", default=None
)


class Dispatcher:
    """Moves batches from processor index `depth` on: segment by segment, then to the sink.

    Segments (runs of synchronous processors, see `pump.chain`) are compiled once and cached
    until the processors change; a Generator's children are collected and sent on in batches.
    """

    def __init__(
        self, pipeline: Pipeline, writer: SinkWriter, policy: ErrorPolicy, tasks: TaskGroup
    ) -> None:
        self.pipeline = pipeline
        self.writer = writer
        self.policy = policy
        self.tasks = tasks
        #: The batch being dispatched or written right now (for processors that hold events).
        self.current: Batch | None = None
        #: True when a processor writes to contexts: every event then gets its own.
        self.own_contexts = False
        #: Indexes of the batch processors: a segment ends before each.
        self.batched: frozenset[int] = frozenset()
        self._segments: dict[int, Segment] = {}

    def changed(self) -> None:
        """The processors changed: compile the segments again when next used."""
        self._segments.clear()
        processors = self.pipeline.Processors
        self.own_contexts = any(isinstance(p, Processor) and p.writes_context for p in processors)
        self.batched = frozenset(i for i, p in enumerate(processors) if is_batch_processor(p))

    def dispatch(
        self,
        batch: Batch,
        depth: int,
        context: Mapping[str, Any] | None,
        contexts: Sequence[dict[str, Any]] | None,
        events: list[Any],
    ) -> None:
        """Run a source's batch with one shared `context` or a context per event."""
        if self.own_contexts:
            if contexts is None:
                base = dict(context) if context else {}
                contexts = [base.copy() for _ in events]
            else:
                contexts = [c if type(c) is dict else dict(c) for c in contexts]
            self.run(batch, depth, None, contexts, events)
        elif contexts is None:
            shared = context if type(context) is SharedContext else SharedContext(context or {})
            self.run(batch, depth, shared, None, events)
        elif isinstance(contexts, (list, NumberedContexts)):
            self.run(batch, depth, None, contexts, events)
        else:
            self.run(batch, depth, None, list(contexts), events)

    def run(
        self,
        batch: Batch,
        depth: int,
        context: SharedContext | None,
        contexts: Sequence[dict[str, Any]] | None,
        events: list[Any],
    ) -> None:
        """Run events through the segment at `depth`, then on to a Generator or the sink."""
        pipeline = self.pipeline
        processors = pipeline.Processors
        if depth >= len(processors) - 1:  # nothing but the sink is left (build() checked it)
            self.writer.write(
                batch,
                processors[-1],  # type: ignore[arg-type]
                events,
                contexts or [context or {}] * len(events),
            )
            return
        if depth in self.batched:
            self._run_batch_processor(batch, depth, context, contexts, events)
            return
        segment = self._segments.get(depth)
        if segment is None:
            segment = self._segment(depth)
        numbered: NumberedContexts | None = None
        if isinstance(contexts, NumberedContexts):
            # made only where read: a segment that reads none runs on the numbers (sinks and
            # batch processors take them as they are)
            if segment.numbered:
                numbered, contexts = contexts, None
            else:
                contexts = contexts.as_list()
        shared = contexts is None and numbered is None
        every = pipeline.Config.profile_every
        profiled = every > 0 and segment.batches % every == 0
        segment.batches += 1
        replay = False
        if segment.states:
            for state in segment.states:
                replay = state.enter(batch, contexts, len(events)) or replay
        run, _ = segment.function(shared, profiled, replay, numbered is not None)
        out_events: list[Any] = []
        out_contexts: Sequence[dict[str, Any]] = []
        previous, self.current = self.current, batch
        try:
            run(
                context if shared else numbered if numbered is not None else contexts,
                events,
                out_events,
                out_contexts,
                segment.drops,
                segment.times,
                lambda stage, ctx, ev, exc: self._fail(segment, stage, batch, ctx, ev, exc),
            )
        finally:
            self.current = previous
        if numbered is not None:  # the indexes of the events that came out: now their contexts
            out_contexts = numbered.pick(out_contexts)  # type: ignore[arg-type]
        n_in, n_out = len(events), len(out_events)
        if n_out != n_in:
            dropped, aggregated = segment.dropped()
            pipeline.counters.dropped += dropped
            pipeline.counters.aggregated += aggregated
            if segment.states:
                absorbed = segment.absorbed()
                if absorbed:
                    pipeline.absorb(batch, absorbed)
        segment.account(n_in, n_out)
        if profiled:
            segment.account_times(n_in)
        if not out_events:
            return
        end = depth + len(segment.processors)
        if end in self.batched:
            self._run_batch_processor(
                batch, end, context, None if shared else out_contexts, out_events
            )
            return
        if shared:
            out_contexts = [context] * n_out  # type: ignore[list-item]
        target = processors[end]
        if isinstance(target, Sink):
            self.writer.write(batch, target, out_events, out_contexts)
        else:
            assert isinstance(target, Generator)
            batch.hold()
            self.tasks.spawn(self._generate(batch, end, target, out_contexts, out_events))

    def _segment(self, depth: int) -> Segment:
        processors = self.pipeline.Processors
        end = depth
        while (
            end < len(processors) - 1
            and not isinstance(processors[end], Generator)
            and (end == depth or end not in self.batched)
        ):
            end += 1
        segment = Segment([p for p in processors[depth:end] if isinstance(p, Processor)], depth)
        self._segments[depth] = segment
        return segment

    def _run_batch_processor(
        self,
        batch: Batch,
        depth: int,
        context: SharedContext | None,
        contexts: Sequence[dict[str, Any]] | None,
        events: list[Any],
    ) -> None:
        """Run the batch processor at `depth` once over the whole batch, then go on."""
        processor = self.pipeline.Processors[depth]
        assert isinstance(processor, Processor)
        counters = processor.counters
        n_in = len(events)
        every_context: Sequence[Any] = contexts if contexts is not None else [context] * n_in
        replayed = 0
        results: list[Any] | None
        if processor.stateful and processor.state.enter(batch, contexts, n_in):
            replayed = self._replayed(processor, every_context)
        previous, self.current = self.current, batch
        started = time.perf_counter_ns()
        try:
            if replayed:
                results = self._replay(processor, replayed, every_context, events)
            else:
                results = processor.process_batch(every_context, events)
            if results is not None and len(results) != n_in:
                raise ValueError(f"process_batch returned {len(results)} results for {n_in} events")
        except PartialBatchError as partial:
            results = self._partly_failed(batch, processor, every_context, events, partial)
        except Exception as exc:
            results = self._rerun_per_event(batch, processor, every_context, events, exc)
        finally:
            self.current = previous
        counters.time_ns += time.perf_counter_ns() - started
        counters.timed += n_in
        counters.events_in += n_in
        if results is None:
            counters.events_out += n_in
            self.run(batch, depth + 1, context, contexts, events)
            return
        dropped = results.count(None)
        n_out = n_in - dropped - results.count(_FAILED)
        counters.events_out += n_out
        if dropped:
            if processor.stateful:
                self.pipeline.absorb(batch, dropped)
            if processor.consumes_events:
                counters.aggregated += dropped
                self.pipeline.counters.aggregated += dropped
            else:
                counters.dropped += dropped
                self.pipeline.counters.dropped += dropped
        if n_out == n_in:
            self.run(batch, depth + 1, context, contexts, results)
        elif n_out:
            kept = [
                (c, r)
                for c, r in zip(every_context, results, strict=True)
                if r is not None and r is not _FAILED
            ]
            self.run(batch, depth + 1, None, [c for c, _ in kept], [r for _, r in kept])

    @staticmethod
    def _replayed(processor: Processor, contexts: Sequence[Any]) -> int:
        """How many leading events of a batch its restored state already reflects."""
        gate = processor.state
        n = 0
        for context in contexts:
            where = context.get(gate.replay_field) if context else None
            if where is None or where > gate.replay_upto:
                break
            n += 1
        return n

    @staticmethod
    def _replay(
        processor: Processor, replayed: int, contexts: Sequence[Any], events: list[Any]
    ) -> list[Any]:
        """`replay` for the events the restored state reflects, `process_batch` for the rest."""
        processor.state.count_replayed(replayed)
        results = [
            processor.replay(c, e)
            for c, e in zip(contexts[:replayed], events[:replayed], strict=False)
        ]
        if replayed < len(events):
            rest = processor.process_batch(contexts[replayed:], events[replayed:])
            results += events[replayed:] if rest is None else rest
        return results

    def _partly_failed(
        self,
        batch: Batch,
        processor: Processor,
        contexts: Sequence[Any],
        events: list[Any],
        partial: PartialBatchError,
    ) -> list[Any]:
        """`process_batch` handled all but some events: those go to the error policy."""
        results = list(partial.results)
        if len(results) != len(events):
            raise ValueError(
                f"{processor.location()}: PartialBatchError carries {len(results)} results "
                f"for {len(events)} events"
            )
        for i in sorted(partial.errors):
            error = partial.errors[i]
            results[i] = _FAILED
            processor.counters.errors += 1
            if not self.policy.event_failed(batch, processor, contexts[i], events[i], error):
                # stop: what the processor passed on goes no further either
                return [_FAILED] * len(events)
        return results

    def _rerun_per_event(
        self,
        batch: Batch,
        processor: Processor,
        contexts: Sequence[Any],
        events: list[Any],
        exc: Exception,
    ) -> list[Any]:
        """`process_batch` raised: run the events one by one through `process`, so the error
        policy gets just the failing ones (all of them when there is no `process`)."""
        per_event = type(processor).process is not Processor.process
        results: list[Any] = []
        for context, event in zip(contexts, events, strict=True):
            try:
                if not per_event:
                    raise exc
                results.append(processor.process(context, event))
            except Exception as error:
                results.append(_FAILED)
                processor.counters.errors += 1
                if isinstance(error, ContextWriteError):
                    error = ContextWriteError(f"{processor.location()}: {error}")
                if not self.policy.event_failed(batch, processor, context, event, error):
                    # stop: abandon the rest of the batch, as the segment loop does
                    results.extend([_FAILED] * (len(events) - len(results)))
                    break
        return results

    def _fail(
        self,
        segment: Segment,
        stage: int,
        batch: Batch,
        context: Any,
        event: Any,
        exc: BaseException,
    ) -> bool:
        segment.errors[stage] += 1
        processor = segment.processors[stage]
        processor.counters.errors += 1
        if isinstance(exc, ContextWriteError):
            exc = ContextWriteError(f"{processor.location()}: {exc}")
        return not self.policy.event_failed(batch, processor, context, event, exc)

    async def _generate(
        self,
        batch: Batch,
        index: int,
        generator: Generator,
        contexts: Sequence[dict[str, Any]],
        events: list[Any],
    ) -> None:
        injected = _Injected(self, batch)
        token = _INJECTED.set(injected)
        counters = generator.counters
        try:
            for context, event in zip(contexts, events, strict=False):
                counters.events_in += 1
                try:
                    await generator.generate(context, event, index + 1)
                except Exception as exc:
                    counters.errors += 1
                    if not self.policy.event_failed(batch, generator, context, event, exc):
                        break
                self._flush_injected(injected)
        finally:
            _INJECTED.reset(token)
            batch.done()

    def _flush_injected(self, injected: _Injected) -> None:
        by_depth, injected.by_depth = injected.by_depth, {}
        for depth, (contexts, events) in by_depth.items():
            self.pipeline.Processors[depth - 1].counters.events_out += len(events)
            self.run(injected.batch, depth, None, contexts, events)

    def inject(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Send `event` on from processor index `depth` (a Generator's child)."""
        injected = _INJECTED.get()
        if injected is not None and injected.dispatcher is self:
            contexts, events = injected.by_depth.setdefault(depth, ([], []))
            contexts.append(context)
            events.append(event)
            if len(events) >= INJECT_BATCH:
                self._flush_injected(injected)
        elif self.current is not None:
            self.run(self.current, depth, None, [context], [event])
        else:
            self.pipeline.process_batch([event], contexts=[context], depth=depth)

    def current_batch(self) -> Batch | None:
        """The batch being processed right now (a Generator's, or the one dispatched)."""
        injected = _INJECTED.get()
        if injected is not None and injected.dispatcher is self:
            return injected.batch
        return self.current
