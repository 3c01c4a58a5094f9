"""Run a processor or a pipeline on given events in a real Pipeline and collect what came out.

BSPump's `ProcessorTestCase`, modernised: the events go in through a source that records
which batches were acknowledged or rejected, through the real runtime (compiled chains,
completion tracking, error policy), into a sink that keeps them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pump.application import Application
from pump.delivery import Batch
from pump.pipeline import Pipeline, PipelineError
from pump.processor import Processor
from pump.sink import Sink
from pump.source import Source
from pump.testing.recorders import WriteRecorder, tick

#: An input: (context or None, event).
Pair = tuple[Mapping[str, Any] | None, Any]
#: What `run_processor` accepts: a Processor class, or a factory `f(app, pipeline) -> Processor`.
ProcessorFactory = type[Processor] | Callable[[Application, Pipeline], Processor]
#: What `run_pipeline` accepts: a Pipeline, or a factory `f(app) -> Pipeline`.
PipelineFactory = Pipeline | Callable[[Application], Pipeline]

DEFAULT_TIMEOUT = 10.0


class BatchRecord:
    """One batch the harness source handed over, and what became of it."""

    __slots__ = ("contexts", "events", "positions", "status", "tick", "times_settled")

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"

    def __init__(
        self, positions: list[int], contexts: list[dict[str, Any]], events: list[Any]
    ) -> None:
        self.positions = positions  # indexes of the events among all inputs fed
        self.contexts = contexts
        self.events = events
        self.status = BatchRecord.PENDING
        self.tick = 0  # observation order of the (last) acknowledge/reject
        self.times_settled = 0

    def __repr__(self) -> str:
        return f"<BatchRecord positions={self.positions} {self.status}>"


class HarnessSource(Source):
    """Hands over fed (context, event) pairs in batches; records acknowledge()/reject() per batch.

    With `shared_context` (the default) a batch whose contexts are all equal is handed over
    with one shared context, as batch sources do, so a processor that writes to its context
    without declaring `writes_context = True` fails here as it would in production.
    """

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        batch_size: int = 1,
        shared_context: bool = True,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        if batch_size < 1:
            raise ValueError(f"{self.location()}: batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.shared_context = shared_context
        self.records: list[BatchRecord] = []
        #: Called with each record when it is acknowledged or rejected.
        self.on_settle: list[Callable[[BatchRecord], None]] = []
        self._queue: list[BatchRecord] = []
        self._fed = 0

    def feed(self, pairs: Iterable[Pair], batch_size: int | None = None) -> list[BatchRecord]:
        """Queue (context, event) pairs for the next run; returns their batch records."""
        size = batch_size or self.batch_size
        pairs = list(pairs)
        records = []
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            positions = list(range(self._fed + start, self._fed + start + len(chunk)))
            contexts = [dict(context) if context else {} for context, _ in chunk]
            records.append(BatchRecord(positions, contexts, [event for _, event in chunk]))
        self._fed += len(pairs)
        self.records.extend(records)
        self._queue.extend(records)
        return records

    @property
    def pending(self) -> int:
        """Batches fed but not handed over yet."""
        return len(self._queue)

    async def main(self) -> None:
        while self._queue:
            record = self._queue[0]
            contexts = record.contexts
            if self.shared_context and all(c == contexts[0] for c in contexts):
                await self.emit(list(record.events), contexts[0], token=record)
            else:
                await self.emit(
                    list(record.events), contexts=[dict(c) for c in contexts], token=record
                )
            self._queue.pop(0)

    def acknowledge(self, batch: Batch) -> None:
        self._settle(batch, BatchRecord.ACKNOWLEDGED)

    def reject(self, batch: Batch) -> None:
        self._settle(batch, BatchRecord.REJECTED)

    def _settle(self, batch: Batch, status: str) -> None:
        record = batch.token
        if not isinstance(record, BatchRecord):
            return
        record.status = status
        record.tick = tick()
        record.times_settled += 1
        for callback in list(self.on_settle):
            callback(record)


class CollectingSink(Sink):
    """Keeps every event it is given as (context, event) in `outputs`.

    For tests of timing it can `block()` (writes wait until `release()`), take `delay` seconds
    per write, or fail every write with `fail_with`.
    """

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.outputs: list[tuple[dict[str, Any], Any]] = []
        self.writes = 0
        self.delay = 0.0
        self.fail_with: BaseException | None = None
        self._gate: asyncio.Event | None = None

    @property
    def events(self) -> list[Any]:
        """The events written, in order."""
        return [event for _, event in self.outputs]

    @property
    def contexts(self) -> list[dict[str, Any]]:
        """Their contexts (plain dict copies)."""
        return [context for context, _ in self.outputs]

    def block(self) -> None:
        """Make writes wait until `release()`."""
        if self._gate is None:
            self._gate = asyncio.Event()

    def release(self) -> None:
        """Let blocked and later writes complete."""
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()

    @property
    def blocked(self) -> bool:
        """True while writes wait for `release()`."""
        return self._gate is not None

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Any:
        self.writes += 1
        if self.fail_with is not None:
            raise self.fail_with.with_traceback(None)  # a fresh traceback per failed write
        if self._gate is None and self.delay <= 0:
            self._keep(events, contexts)
            return None
        return self._write_later(list(events), list(contexts), self._gate)

    async def _write_later(
        self, events: list[Any], contexts: list[dict[str, Any]], gate: asyncio.Event | None
    ) -> None:
        if gate is not None:
            await gate.wait()
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with.with_traceback(None)
        self._keep(events, contexts)

    def _keep(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        self.outputs.extend(
            (dict(context), event) for context, event in zip(contexts, events, strict=True)
        )


@dataclass
class PipelineResult:
    """What one harness run produced."""

    #: (context, event) of every event that reached the sink, in order.
    outputs: list[tuple[dict[str, Any], Any]]
    #: The input batches and what became of each (acknowledged, rejected, pending).
    batches: list[BatchRecord]
    #: `pipeline.metrics()` after the run.
    metrics: dict[str, Any]
    #: Every error the pipeline saw during the run.
    errors: list[PipelineError]
    #: The error that stopped the pipeline, if one did.
    error: PipelineError | None
    #: Records the dead-letter sink received (when the harness provided it).
    dead_letters: list[dict[str, Any]]
    #: True when every event was done before the run stopped the pipeline.
    drained: bool
    #: `app.stop()`'s exit code (0, or 1 if a pipeline failed or did not drain).
    exit_code: int
    app: Application
    pipeline: Pipeline
    #: Seconds the run took.
    elapsed: float = 0.0
    #: The processor's counters (`run_processor` only).
    counters: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[Any]:
        """The output events, in order."""
        return [event for _, event in self.outputs]

    @property
    def contexts(self) -> list[dict[str, Any]]:
        """The output contexts, in order."""
        return [context for context, _ in self.outputs]

    @property
    def acknowledged(self) -> list[int]:
        """Positions (in the input) of the events whose batch was acknowledged."""
        return self._positions(BatchRecord.ACKNOWLEDGED)

    @property
    def rejected(self) -> list[int]:
        """Positions of the events whose batch was rejected."""
        return self._positions(BatchRecord.REJECTED)

    @property
    def unsettled(self) -> list[int]:
        """Positions of the events whose batch was neither acknowledged nor rejected."""
        return self._positions(BatchRecord.PENDING)

    def _positions(self, status: str) -> list[int]:
        return sorted(p for b in self.batches if b.status == status for p in b.positions)


class HarnessRig:
    """A pipeline wired for the harness: its source and the sink output collector."""

    def __init__(self, pipeline: Pipeline, keep_sink: bool, batch_size: int, shared: bool) -> None:
        app = pipeline.App
        self.app = app
        self.pipeline = pipeline
        self.source = HarnessSource(
            app, pipeline, "HarnessSource", batch_size=batch_size, shared_context=shared
        )
        pipeline.set_source(self.source)
        has_sink = bool(pipeline.Processors) and isinstance(pipeline.Processors[-1], Sink)
        if has_sink and not keep_sink:
            pipeline.remove_processor(pipeline.sink.Id)
            has_sink = False
        if not has_sink:
            pipeline.append_processor(CollectingSink(app, pipeline, "HarnessSink"))
        self.writes = WriteRecorder(pipeline.sink)
        self.dead_letter: CollectingSink | None = None
        if pipeline.dead_letter is None:
            self.dead_letter = CollectingSink(app, pipeline, "HarnessDeadLetter")
            pipeline.set_dead_letter(self.dead_letter)
        if app.Pipelines.get(pipeline.Id) is not pipeline:
            app.add_pipeline(pipeline)

    async def run(self, pairs: Iterable[Pair], timeout: float) -> PipelineResult:
        """Feed the pairs, run the application until they are done, stop it; the result."""
        pipeline, app, source = self.pipeline, self.app, self.source
        records = source.feed(pairs)
        outputs_before = len(self.writes.completed)
        dead_before = len(self.dead_letter.outputs) if self.dead_letter is not None else 0
        errors_before = list(pipeline.errors)
        _prepare_restart(pipeline)
        started = time.monotonic()
        deadline = started + timeout
        await app.start()
        try:
            while not (source.task is None or source.task.done() or pipeline.is_error()):
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.002)
            drained = await pipeline.drain(max(deadline - time.monotonic(), 0.01))
        finally:
            exit_code = await app.stop(timeout=max(deadline - time.monotonic(), 0.01))
        outputs = [
            pair
            for write in self.writes.completed[outputs_before:]
            for pair in zip(write.contexts, write.events, strict=True)
        ]
        dead = (
            [event for _, event in self.dead_letter.outputs[dead_before:]]
            if self.dead_letter is not None
            else []
        )
        return PipelineResult(
            outputs=outputs,
            batches=records,
            metrics=pipeline.metrics(),
            errors=[e for e in pipeline.errors if e not in errors_before],
            error=pipeline.error,
            dead_letters=dead,
            drained=drained,
            exit_code=exit_code,
            app=app,
            pipeline=pipeline,
            elapsed=time.monotonic() - started,
        )


def _prepare_restart(pipeline: Pipeline) -> None:
    """Let a pipeline that ran (and failed) before run again."""
    if pipeline.is_error():
        pipeline.set_error(None, None, None)
    if pipeline in pipeline.App.failed:
        pipeline.App.failed.remove(pipeline)


def make_processor(
    app: Application,
    pipeline: Pipeline,
    processor: ProcessorFactory,
    config: Mapping[str, Any] | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> Processor:
    """Build the processor under test: `Class(app, pipeline, *args, config=config, **kwargs)`,
    or `factory(app, pipeline)`."""
    if isinstance(processor, type):
        if not issubclass(processor, Processor):
            raise TypeError(f"{processor.__name__} is not a pump.Processor subclass")
        build: Callable[..., Processor] = processor
        return build(app, pipeline, *args, config=config, **(kwargs or {}))
    if config is not None:
        raise TypeError(
            "config= is for a Processor class; a factory configures the processor itself"
        )
    if args or kwargs:
        raise TypeError("constructor arguments are for a Processor class; a factory passes its own")
    built = processor(app, pipeline)
    if not isinstance(built, Processor):
        raise TypeError(f"the processor factory returned {built!r}, not a pump.Processor")
    return built


def processor_pipeline(
    processor: ProcessorFactory,
    config: Mapping[str, Any] | None = None,
    *,
    app: Application | None = None,
    pipeline_config: Mapping[str, Any] | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> tuple[Pipeline, Processor]:
    """A pipeline holding just the processor under test (source and sink come from the harness)."""
    app = app if app is not None else Application(exit_when_finished=False)
    pipeline = Pipeline(app, "harness", config=pipeline_config)
    built = make_processor(app, pipeline, processor, config, args, kwargs)
    pipeline.append_processor(built)
    return pipeline, built


def pipeline_from(target: PipelineFactory, app: Application | None = None) -> Pipeline:
    """The pipeline under test: given, or built by `target(app)`."""
    if isinstance(target, Pipeline):
        if app is not None and target.App is not app:
            raise ValueError(f"{target!r} belongs to another application than the one given")
        return target
    built = target(app if app is not None else Application(exit_when_finished=False))
    if not isinstance(built, Pipeline):
        raise TypeError(f"the pipeline factory returned {built!r}, not a pump.Pipeline")
    return built


def pairs_of(
    events: Sequence[Any], contexts: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None
) -> list[Pair]:
    """Pair events with their contexts: none, one for all, or one each."""
    if contexts is None or isinstance(contexts, Mapping):
        return [(contexts, event) for event in events]
    if len(contexts) != len(events):
        raise ValueError(f"{len(events)} events but {len(contexts)} contexts")
    return list(zip(contexts, events, strict=True))


async def arun_pipeline(
    pipeline: PipelineFactory,
    events: Iterable[Pair] = (),
    *,
    app: Application | None = None,
    batch_size: int = 1,
    keep_sink: bool = False,
    shared_context: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> PipelineResult:
    """Run (context, event) pairs through a pipeline; its sources are replaced by the harness's.

    The pipeline's sink is replaced by a collecting one unless `keep_sink` (its writes are then
    recorded as they complete). Without a dead-letter sink, the harness provides one.
    """
    rig = HarnessRig(pipeline_from(pipeline, app), keep_sink, batch_size, shared_context)
    return await rig.run(events, timeout)


def run_pipeline(
    pipeline: PipelineFactory,
    events: Iterable[Pair] = (),
    **options: Any,
) -> PipelineResult:
    """`arun_pipeline` in its own event loop, for synchronous tests."""
    _refuse_running_loop("run_pipeline", "arun_pipeline")
    return asyncio.run(arun_pipeline(pipeline, events, **options))


async def arun_processor(
    processor: ProcessorFactory,
    events: Sequence[Any],
    config: Mapping[str, Any] | None = None,
    contexts: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
    *,
    batch_size: int = 1,
    shared_context: bool = True,
    pipeline_config: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> PipelineResult:
    """Run events through one processor (class + config, or factory); the result has `counters`.

    `args` and `kwargs` are more constructor arguments of the class (BSPump's
    `set_up_processor(cls, *args, **kwargs)`), e.g. `kwargs={"aggregation_strategy": ...}`.
    """
    pipeline, built = processor_pipeline(
        processor, config, pipeline_config=pipeline_config, args=args, kwargs=kwargs
    )
    rig = HarnessRig(pipeline, False, batch_size, shared_context)
    result = await rig.run(pairs_of(events, contexts), timeout)
    result.counters = built.counters.snapshot()
    return result


def run_processor(
    processor: ProcessorFactory,
    events: Sequence[Any],
    config: Mapping[str, Any] | None = None,
    contexts: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
    **options: Any,
) -> PipelineResult:
    """`arun_processor` in its own event loop, for synchronous tests."""
    _refuse_running_loop("run_processor", "arun_processor")
    return asyncio.run(arun_processor(processor, events, config, contexts, **options))


def _refuse_running_loop(name: str, async_name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{name}() cannot run inside an event loop; use `await {async_name}(...)`")
