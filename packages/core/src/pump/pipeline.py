"""Pipeline: sources → processors → sink, with end-to-end acknowledgement and backpressure."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from pump.config import ComponentConfig, Configurable, build_config, with_custom_keys
from pump.deadletter import dead_letter_context, dead_letter_record
from pump.delivery import Batch, release_parents
from pump.dispatch import Dispatcher
from pump.error_policy import ErrorPolicy, OnError, PipelineError, describe
from pump.errors import BuildError
from pump.metrics import Counters, RateMeter
from pump.origin import event_origin
from pump.processor import Processor
from pump.sink import Sink
from pump.sinkwriter import SinkWriter
from pump.source import Source
from pump.taskgroup import TaskGroup

if TYPE_CHECKING:
    from pump.application import Application
    from pump.component import Component
    from pump.state.backend import StateBackend
    from pump.state.checkpoint import Checkpointer

__all__ = ["Pipeline", "PipelineConfig", "PipelineError"]

L = logging.getLogger(__name__)


class _Paused:
    """What `Pipeline.pause()` throttles the pipeline with (shown as `paused`)."""

    def __repr__(self) -> str:
        return "paused"


PAUSED = _Paused()


class PipelineConfig(ComponentConfig):
    """Settings every pipeline has."""

    max_in_flight: int = Field(
        10_000, gt=0, description="Source events not yet done before sources wait"
    )
    on_error: OnError = Field(
        "stop", description="What a failed event does: stop, skip or dead_letter"
    )
    sink_retries: int = Field(
        -1,
        ge=-1,
        description="Retries of a failed sink write before on_error applies "
        "(-1: forever; a dead-letter sink: 10)",
    )
    retry_backoff: float = Field(0.1, gt=0, description="First retry delay, seconds (doubles)")
    retry_backoff_max: float = Field(10.0, gt=0, description="Longest retry delay, seconds")
    drain_timeout: float = Field(
        30.0, gt=0, description="Seconds to finish in-flight events on stop"
    )
    profile_every: int = Field(
        256, ge=0, description="Time processors on one batch in N (0: never)"
    )
    state_backend: Literal["auto", "memory", "sqlite"] = Field(
        "auto",
        description="Where stateful processors checkpoint: sqlite (a file in state_dir), "
        "memory (lost with the process), auto (sqlite when state_dir is set)",
    )
    state_dir: str = Field(
        "",
        description="Folder of this pipeline's state (`pump run` default: "
        "./.pump-state/<pipeline>)",
    )
    checkpoint_interval: float = Field(
        5.0, gt=0, description="Seconds between checkpoints of stateful processors"
    )
    checkpoint_events: int = Field(
        100_000, gt=0, description="Also checkpoint after this many events reached state"
    )
    state_changelog: str = Field(
        "",
        description="Connection (Kafka) whose changelog topics also keep the state, so a "
        "partition's state moves to any process assigned it ('': none)",
    )
    state_changelog_prefix: str = Field(
        "", description="Start of the changelog topics' names (default: pump.<pipeline>)"
    )


class Pipeline(Configurable):
    """Moves events from its sources through its processors into its sink, losing none.

    Build it with `build(source_or_sources, *processors, sink)`. Every batch a source hands over
    is tracked until each of its events is done — written by the sink, dropped on purpose, or
    handled by the error policy — and only then acknowledged to the source.
    """

    ConfigModel = PipelineConfig
    Config: PipelineConfig
    #: True when the class (or a base below Pipeline) declares its own ConfigModel.
    declares_config_model: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # BSPump: a pipeline subclass reads its own keys from its config section (the
        # Configuration Quickstart's `url`, `api_key`); they are kept, untyped, unless the class
        # declares a ConfigModel (then unknown keys are errors). ConfigDefaults keys are typed.
        if "ConfigModel" in cls.__dict__:
            cls.declares_config_model = True
        super().__init_subclass__(**kwargs)
        if not cls.declares_config_model:
            cls.ConfigModel = with_custom_keys(cls.ConfigModel)

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        self.Id = id or type(self).__name__
        self.App = app
        self.Config = build_config(  # type: ignore[assignment]  # validated by ConfigModel
            type(self).ConfigModel,
            f"pipeline '{self.Id}'",
            app.config_section(f"pipeline:{self.Id}") if app is not None else None,
            config,
        )
        self.Sources: list[Source] = []
        self.Processors: list[Processor | Sink] = []
        self.dead_letter: Sink | None = None
        self.counters = Counters()
        self.dead_lettered = 0
        self.in_flight = 0
        self.errors: deque[PipelineError] = deque(maxlen=50)
        self.error: PipelineError | None = None
        self._max_in_flight = self.Config.max_in_flight
        self._throttles: set[Any] = set()
        self._linked: set[Pipeline] = set()
        #: set while sources may hand over events; changed only by `_set_ready`, which keeps
        #: `_ready_now` (the same, as a plain attribute read per batch and request) in step
        self._ready = asyncio.Event()
        self._ready_now = False
        #: drain() calls waiting for the pipeline to be idle (no event in flight, no task);
        #: idle is `in_flight == 0 and not self._tasks`, checked where either drops to zero
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._started = False
        self._stopping = False
        #: True while the pipeline finishes its in-flight events; holders must not hold.
        self.draining = False
        self._live: set[Batch] = set()  # source batches not yet done
        self._after_dispatch: list[Callable[[], None]] = []
        self._rate = RateMeter()
        # the parts: background tasks, error policy, sink writes with retry, dispatch
        self._tasks = TaskGroup(f"pipeline '{self.Id}'", on_idle=self._tasks_idle)
        self._policy = ErrorPolicy(self)
        self._writer = SinkWriter(self, self._policy, self._tasks)
        self._dispatch = Dispatcher(self, self._writer, self._policy, self._tasks)
        self._policy.writer = self._writer
        self._writer.dispatcher = self._dispatch
        #: Checkpoints of the stateful processors (while started, when there are any).
        self.checkpointer: Checkpointer | None = None
        #: The state folder when `state_dir` is not set (`pump run`: ./.pump-state/<id>).
        self.default_state_dir = ""
        self._state_backend: StateBackend | None = None

    # -- building -------------------------------------------------------------------------

    def build(self, source: Source | Sequence[Source], *processors: Processor | Sink) -> None:
        """Set the source(s) and the processors; the last one must be the sink."""
        sources: list[Source] = list(source) if isinstance(source, (list, tuple)) else [source]  # type: ignore[list-item]
        if not sources:
            raise BuildError(f"pipeline '{self.Id}': build() needs at least one source")
        for s in sources:
            self.append_source(s)
        if not processors or not isinstance(processors[-1], Sink):
            last = processors[-1] if processors else None
            raise BuildError(
                f"pipeline '{self.Id}': the last component must be a Sink, got {last!r}"
            )
        for p in processors[:-1]:
            if isinstance(p, Sink):
                raise BuildError(
                    f"pipeline '{self.Id}': sink '{p.Id}' must be the last component; "
                    f"a pipeline has exactly one sink, at the end"
                )
        for p in processors:
            self.append_processor(p)

    def append_source(self, source: Source) -> None:
        """Add a source (a pipeline may have several)."""
        if not isinstance(source, Source):
            raise BuildError(
                f"pipeline '{self.Id}': {source!r} is not a Source and cannot be used as one"
            )
        self.Sources.append(source)

    def set_source(self, source: Source | Sequence[Source]) -> None:
        """Replace the sources (BSPump's name)."""
        self.Sources = []
        for s in [source] if isinstance(source, Source) else source:
            self.append_source(s)

    def append_processor(self, processor: Processor | Sink) -> None:
        """Add a processor, or the sink as the last one."""
        self._check_insertable(processor, len(self.Processors))
        self.Processors.append(processor)
        self._changed()

    def insert_before(self, id: str, processor: Processor) -> None:
        """Insert a processor before the one called `id`."""
        index = self._index_of(id)
        self._check_insertable(processor, index)
        self.Processors.insert(index, processor)
        self._changed()

    def insert_after(self, id: str, processor: Processor) -> None:
        """Insert a processor after the one called `id`."""
        index = self._index_of(id) + 1
        self._check_insertable(processor, index)
        self.Processors.insert(index, processor)
        self._changed()

    def remove_processor(self, id: str) -> Processor | Sink:
        """Remove and return the processor called `id`."""
        removed = self.Processors.pop(self._index_of(id))
        self._changed()
        return removed

    def iter_processors(self) -> Iterator[Processor | Sink]:
        """Processors in order, the sink last."""
        return iter(self.Processors)

    def set_dead_letter(self, sink: Sink) -> None:
        """Where events go under `on_error: dead_letter` (with their context and error)."""
        if not isinstance(sink, Sink):
            raise BuildError(f"pipeline '{self.Id}': dead-letter target {sink!r} is not a Sink")
        self.dead_letter = sink

    def _check_insertable(self, processor: Any, index: int) -> None:
        if not isinstance(processor, (Processor, Sink)):
            raise BuildError(
                f"pipeline '{self.Id}': {processor!r} is neither a Processor nor a Sink"
                + (" (sources go first in build())" if isinstance(processor, Source) else "")
            )
        has_sink = bool(self.Processors) and isinstance(self.Processors[-1], Sink)
        if isinstance(processor, Sink):
            if index != len(self.Processors) or has_sink:
                raise BuildError(
                    f"pipeline '{self.Id}': sink '{processor.Id}' must be the last component; "
                    f"a pipeline has exactly one sink, at the end"
                )
        elif has_sink and index >= len(self.Processors):
            raise BuildError(
                f"pipeline '{self.Id}': processor '{processor.Id}' comes after the sink "
                f"'{self.Processors[-1].Id}'; the sink must be last"
            )

    def _index_of(self, id: str) -> int:
        for i, p in enumerate(self.Processors):
            if p.Id == id:
                return i
        raise KeyError(f"pipeline '{self.Id}' has no processor '{id}'")

    def _changed(self) -> None:
        self._dispatch.changed()

    @property
    def sink(self) -> Sink:
        """The pipeline's sink."""
        if not self.Processors or not isinstance(self.Processors[-1], Sink):
            raise BuildError(f"pipeline '{self.Id}' has no sink; build() it first")
        return self.Processors[-1]

    def locate_source(self, id: str) -> Source:
        """The source called `id`."""
        for s in self.Sources:
            if s.Id == id:
                return s
        raise KeyError(f"pipeline '{self.Id}' has no source '{id}'")

    def locate_processor(self, id: str) -> Processor | Sink:
        """The processor (or sink) called `id`."""
        return self.Processors[self._index_of(id)]

    def locate_connection(self, app: Application, connection_id: Any) -> Any:
        """BSPump's helper: the application's connection called `connection_id`."""
        return app.locate_connection(connection_id)

    def components(self) -> Iterator[Component]:
        """Sources, processors, sink and dead-letter sink."""
        yield from self.Sources
        yield from self.Processors
        if self.dead_letter is not None:
            yield self.dead_letter

    # -- flow control -----------------------------------------------------------------------

    async def ready(self) -> None:
        """Wait until the pipeline takes more events (started, not throttled, under the bound)."""
        # loop: several sources (or tasks of one) wake together; each re-checks the bound
        while not self._ready_now:
            await self._ready.wait()

    def is_ready(self) -> bool:
        """True when sources may hand over events now."""
        return self._ready_now

    def throttle(self, who: Any, enable: bool = True) -> None:
        """Pause (`enable`) or resume sources on behalf of `who`; linked pipelines follow."""
        if (who in self._throttles) == enable:
            return  # as asked already: so is every pipeline linked (a cycle ends here)
        if enable:
            self._throttles.add(who)
        else:
            self._throttles.discard(who)
        for other in self._linked:
            other.throttle(who, enable)
        self._update_ready()

    def pause(self) -> None:
        """Stop the sources handing over events (an operator's pause); `resume()` undoes it.

        Events already in flight are finished; pipelines feeding this one through routing are
        throttled as usual once its queue is full.
        """
        self._throttles.add(PAUSED)
        self._update_ready()

    def resume(self) -> None:
        """Undo `pause()`."""
        self._throttles.discard(PAUSED)
        self._update_ready()

    @property
    def paused(self) -> bool:
        """True between `pause()` and `resume()`."""
        return PAUSED in self._throttles

    @property
    def state(self) -> str:
        """stopped, running, paused, throttled (waiting: full, or throttled by a component),
        finished (sources ended, every event done), failed, or stopping."""
        if self.error is not None:
            return "failed"
        if not self._started:
            return "stopped"
        if self._stopping or self.draining:
            return "stopping"
        if self.is_finished():
            return "finished"
        if self.paused:
            return "paused"
        return "running" if self._ready_now else "throttled"

    def link(self, other: Pipeline) -> None:
        """Throttling this pipeline throttles `other` too (`other` feeds this one)."""
        self._linked.add(other)

    def unlink(self, other: Pipeline) -> None:
        """Undo `link`."""
        self._linked.discard(other)

    def _update_ready(self) -> None:
        self._set_ready(
            self._started
            and not self._stopping
            and not self._throttles
            and self.error is None
            and self.in_flight < self._max_in_flight
        )

    def _set_ready(self, ready: bool) -> None:
        """The one place `_ready` and its mirror `_ready_now` change."""
        self._ready_now = ready
        if ready:
            self._ready.set()
        else:
            self._ready.clear()

    # -- the event path -------------------------------------------------------------------

    def process_batch(
        self,
        events: list[Any],
        context: Mapping[str, Any] | None = None,
        contexts: Sequence[dict[str, Any]] | None = None,
        source: Source | None = None,
        token: Any = None,
        depth: int = 0,
        errors: Mapping[int, BaseException] | None = None,
    ) -> Batch | None:
        """Run a batch from `source` through the pipeline; it is acknowledged once done.

        `errors` marks events the source could not decode (index → error): they go to the
        error policy as failures of the source, and the rest of the batch goes on.
        """
        n = len(events)
        if n == 0:
            return None
        batch = Batch(n, self._complete, source, token)
        self._live.add(batch)
        if source is not None:
            source.counters.events_out += n
        self.in_flight += n
        self.counters.events_in += n
        if self.in_flight >= self._max_in_flight:
            self._set_ready(False)
        if errors:
            events, contexts = self._policy.source_errors(
                batch, source, events, context, contexts, errors
            )
            if batch.failed or not events:  # stopped on one of them, or nothing else left
                batch.done()
                return batch
        self._dispatch.dispatch(batch, depth, context, contexts, events)
        batch.done()
        if self._after_dispatch:
            self._run_after_dispatch()
        return batch

    def after_dispatch(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (once) when the source batch being dispatched is through the
        pipeline."""
        if callback not in self._after_dispatch:
            self._after_dispatch.append(callback)

    def _run_after_dispatch(self) -> None:
        callbacks, self._after_dispatch = self._after_dispatch, []
        for callback in callbacks:
            callback()

    async def process(self, event: Any, context: dict[str, Any] | None = None) -> None:
        """Hand one event over once the pipeline is ready (BSPump's `await pipeline.process`)."""
        await self.ready()
        self.process_batch([event], contexts=[context if context is not None else {}])

    def inject(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Send `event` on from processor index `depth` (used by Generators)."""
        self._dispatch.inject(context, event, depth)

    @property
    def current_batch(self) -> Batch | None:
        """The batch being processed right now (for processors that hold events)."""
        # read per event by processors that hold events: the dispatched batch first, the
        # context variable of a Generator's run only outside of a dispatch
        current = self._dispatch.current
        return current if current is not None else self._dispatch.current_batch()

    def inject_batch(
        self,
        events: list[Any],
        contexts: list[dict[str, Any]],
        depth: int,
        parents: list[Batch],
    ) -> None:
        """Send events made from held ones (an aggregate) on from `depth`; done → parents done."""
        batch = Batch(0, release_parents(parents))
        self._dispatch.run(batch, depth, None, contexts, events)
        batch.done()
        if self.in_flight == 0 and not self._tasks:  # written at once, from no source batch
            self._became_idle()

    def absorb(self, batch: Batch, n: int) -> None:
        """`n` events of `batch` were absorbed into state: no longer in flight (they are
        acknowledged with the checkpoint that holds them)."""
        batch.absorbed += n
        self.in_flight -= n
        if not self._ready_now:
            self._update_ready()
        if self.in_flight == 0 and not self._tasks:
            self._became_idle()

    def write_dead_letters(
        self,
        component: Component,
        failures: Sequence[tuple[Mapping[str, Any] | None, Any, BaseException]],
    ) -> bool:
        """Write (context, event, error) triples to the dead-letter sink, whatever `on_error`
        says; the current batch is done once they are written. False if there is no sink."""
        sink = self.dead_letter
        if sink is None:
            return False
        if not failures:
            return True
        records = [
            dead_letter_record(self.Id, component.Id, error, event, context)
            for context, event, error in failures
        ]
        contexts = [dead_letter_context(context) for context, _, _ in failures]
        batch = self.current_batch
        if batch is None:
            batch = Batch(0, lambda _: None)
            self._writer.write(batch, sink, records, contexts)
            batch.done()
        else:
            self._writer.write(batch, sink, records, contexts)
        return True

    def settled(self, batch: Batch) -> None:
        """Nothing of `batch` is outstanding but checkpoint holds: its events are absorbed or
        done, so none is in flight; the source hears of it (a routed copy's upstream batch)."""
        left = batch.size - batch.absorbed
        if left > 0:
            self.absorb(batch, left)
        source = batch.source
        if source is not None:
            source.settled(batch)

    # -- state --------------------------------------------------------------------------------

    def set_state_backend(self, backend: StateBackend) -> None:
        """Checkpoint into `backend` instead of the configured one (before `start`)."""
        self._state_backend = backend

    def state_backend(self) -> StateBackend:
        """The backend the stateful processors checkpoint into (see `state_backend`)."""
        if self._state_backend is not None:
            return self._state_backend
        from pump.state.backend import MemoryBackend

        c = self.Config
        state_dir = c.state_dir or self.default_state_dir
        kind = c.state_backend
        if kind == "auto":
            kind = "sqlite" if state_dir else "memory"
        backend: StateBackend
        if kind == "memory":
            backend = MemoryBackend()
        else:
            from pump.state.sqlite import SQLiteBackend

            backend = SQLiteBackend(state_dir or f".pump-state/{self.Id}")
        if c.state_changelog:
            connection = self.App.locate_connection(c.state_changelog)
            make = getattr(connection, "state_changelog", None)
            if make is None:
                raise BuildError(
                    f"pipeline '{self.Id}': key 'state_changelog': connection "
                    f"'{c.state_changelog}' ({type(connection).__name__}) cannot keep a state "
                    "changelog (a Kafka connection can)"
                )
            backend = make(backend, c.state_changelog_prefix or f"pump.{self.Id}")
        self._state_backend = backend
        return backend

    async def checkpoint(self, timeout: float | None = None) -> bool:
        """Checkpoint the stateful processors now; True when a checkpoint was written."""
        if self.checkpointer is None:
            return False
        return await self.checkpointer.checkpoint(timeout)

    # A partitioned source (Kafka) reports what it owns with the two calls below, so that state
    # follows its partitions and processors (window watermarks) count exactly those.

    async def assign_partitions(self, partitions: list[str]) -> None:
        """A source was given `partitions` (named as its `stream_position` names them): restore
        their state, then tell every processor (`Processor.partitions_assigned`); the same in
        the pipelines this one routes to (their state follows the partitions of the events
        routed to them).

        Call it before handing over any of their events; a partition may be assigned again
        without being revoked (it is then counted once).
        """
        for pipeline in [self, *self._downstream()]:
            if pipeline.checkpointer is not None:
                await pipeline.checkpointer.load_partitions(partitions)
            pipeline._tell("partitions_assigned", partitions)

    async def revoke_partitions(self, partitions: list[str], timeout: float | None = None) -> None:
        """A source lost `partitions`: checkpoint their state (waiting at most `timeout` for
        their batches to settle), drop it, then tell every processor
        (`Processor.partitions_revoked`); the pipelines this one routes to first.

        Call it before waiting for the partitions' in-flight batches: their acknowledgements
        wait for that checkpoint. Hand over none of their events after it.
        """
        for pipeline in [*reversed(self._downstream()), self]:
            if pipeline.checkpointer is not None:
                await pipeline.checkpointer.release_partitions(partitions, timeout)
            pipeline._tell("partitions_revoked", partitions)

    def _downstream(self) -> list[Pipeline]:
        """The pipelines this one feeds (`link`: tee, router), and those they feed, nearest
        first."""
        pipelines = list(self.App.Pipelines.values())
        found: list[Pipeline] = []
        feeding: list[Pipeline] = [self]
        while feeding:
            upstream = feeding.pop(0)
            for pipeline in pipelines:
                if upstream in pipeline._linked and pipeline is not self and pipeline not in found:
                    found.append(pipeline)
                    feeding.append(pipeline)
        return found

    def backlog(self, partition: str) -> bool:
        """True when a source has events of `partition` waiting (`Source.backlog`)."""
        return any(source.backlog(partition) for source in self.Sources)

    def _tell(self, hook: str, partitions: list[str]) -> None:
        for processor in self.Processors:
            if isinstance(processor, Processor):
                try:
                    getattr(processor, hook)(partitions)
                except Exception:
                    L.exception("%s: %s failed", processor.location(), hook)

    def forget_stream(self, stream: str) -> None:
        """A source will not deliver `stream` again (a finished file): drop its position, here
        and in the pipelines this one routes to."""
        for pipeline in [self, *self._downstream()]:
            if pipeline.checkpointer is not None:
                pipeline.checkpointer.forget_stream(stream)

    async def _start_state(self) -> None:
        states = [p.state for p in self.Processors if isinstance(p, Processor) and p.stateful]
        if not states:
            return
        from pump.state.checkpoint import Checkpointer

        c = self.Config
        events = c.checkpoint_events
        for source in self.Sources:
            limit = source.unacknowledged_limit()
            if limit is not None:  # checkpoint (acknowledge) before the source stalls
                events = max(1, min(events, limit // 2))
        checkpointer = Checkpointer(
            self, self.state_backend(), states, c.checkpoint_interval, events
        )
        await checkpointer.start()
        self.checkpointer = checkpointer
        L.info(
            "pipeline '%s': state of %d processor(s) checkpointed to %s",
            self.Id,
            len(states),
            checkpointer.backend.describe(),
        )

    # -- errors -----------------------------------------------------------------------------

    def handle_error(self, exception: BaseException, context: Any, event: Any) -> bool:
        """Decide what a failed event does; True = handled (processing goes on), False = stop."""
        return self._policy.handle(exception, context, event)

    def set_error(
        self,
        context: Any,
        event: Any,
        exc: BaseException | None,
        component: Component | None = None,
    ) -> None:
        """Put the pipeline in error (sources pause) or, with `exc=None`, clear the error."""
        if exc is None:
            self.error = None
        else:
            origin = event_origin(context)
            if self.error is None:  # the first failure stops it; later ones are in `errors`
                L.error("%s — pipeline stopped", describe(self, component, exc, "", origin))
            self.error = PipelineError(component.Id if component else self.Id, exc, event, origin)
            self.App.pipeline_failed(self)
        self._update_ready()

    def report_error(self, component: Component, exc: BaseException, event: Any = None) -> None:
        """Record a non-fatal error (a connection lost, a retry): counted and visible, no stop."""
        component.counters.errors += 1
        self.counters.errors += 1
        self.errors.append(PipelineError(component.Id, exc, event))

    def is_error(self) -> bool:
        """True when the pipeline stopped on an error."""
        return self.error is not None

    # -- completion ----------------------------------------------------------------------------

    def _complete(self, batch: Batch) -> None:
        self._live.discard(batch)
        self.in_flight -= batch.size - batch.absorbed
        source = batch.source
        if source is not None:
            try:
                if batch.failed:
                    source.reject(batch)
                else:
                    source.acknowledge(batch)
            except Exception:
                L.exception("%s: acknowledging a batch failed", source.location())
        if not self._ready_now:
            self._update_ready()
        if self.in_flight == 0 and not self._tasks:
            self._became_idle()

    def _tasks_idle(self) -> None:
        if self.in_flight == 0:
            self._became_idle()

    def _became_idle(self) -> None:
        waiters = self._idle_waiters
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            waiters.clear()
        if self.sources_finished():
            self.App.wake()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start components, then the sources' `main()` tasks."""
        self.sink  # noqa: B018 - fails early when the pipeline was never built
        await self._start_state()
        for component in self.components():
            await component.start()
        self._started = True
        self._stopping = False
        self.draining = False
        self._writer.stopping(False)
        self._update_ready()
        loop = asyncio.get_running_loop()
        for source in self.Sources:
            source.task = loop.create_task(self._run_source(source))

    async def _run_source(self, source: Source) -> None:
        try:
            await source.main()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report_error(source, exc)
            self.set_error(None, None, exc, source)
        finally:
            if self.checkpointer is not None and self.sources_finished():
                self.checkpointer.request()  # acknowledge what is absorbed without waiting
            self.App.wake()

    def sources_exhausted(self) -> bool:
        """True when no source will hand over anything more (looking through routing)."""
        return all(s.exhausted() for s in self.Sources)

    def sources_finished(self) -> bool:
        """True when every source's `main()` has returned."""
        # a plain loop: asked after every batch that leaves the pipeline idle
        for source in self.Sources:
            task = source.task
            if task is None or not task.done():
                return False
        return True

    def is_finished(self) -> bool:
        """Sources exhausted and every event done."""
        return self.sources_finished() and self.in_flight == 0 and not self._tasks

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no event is in flight; False if `timeout` passed first.

        A failing sink write gets one last attempt, then is given up (its batch is rejected,
        to be delivered again) instead of being retried until the timeout; that too is False.
        """
        self.draining = True
        self._writer.stopping()
        for component in self.Processors:
            await component.flush()
        if self.dead_letter is not None:
            await self.dead_letter.flush()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if self.in_flight or self._tasks:
            waiter = loop.create_future()
            self._idle_waiters.append(waiter)
            try:
                async with asyncio.timeout(timeout):  # wait_for in 3.11 may drop a cancel
                    await waiter
            except TimeoutError:
                return False
        if self.checkpointer is not None and self.error is None:
            # events absorbed into state are done once this checkpoint is durable
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await self.checkpointer.checkpoint(left)
            except Exception as exc:
                L.error(
                    "pipeline '%s': the final checkpoint failed (%s: %s); the state is "
                    "restored from the previous one and its events are delivered again",
                    self.Id,
                    type(exc).__name__,
                    exc,
                )
                return False
        return not self._writer.given_up

    async def stop_sources(self, internal: bool = True) -> None:
        """Stop fetching: cancel the sources' `main()` (internal ones too unless told not to)."""
        tasks = [
            s.task
            for s in self.Sources
            if s.task is not None and not s.task.done() and (internal or not s.internal)
        ]
        if internal:
            self._stopping = True
            self._update_ready()
        for task in tasks:
            task.cancel()
        if tasks:
            # bounded: a main() that ignores its cancel must not keep the whole run from ending
            _, stuck = await asyncio.wait(tasks, timeout=self.Config.drain_timeout)
            for source in self.Sources:
                if source.task in stuck:
                    L.error(
                        "%s: main() did not end when cancelled; left running", source.location()
                    )

    async def stop(self, timeout: float | None = None) -> bool:
        """Graceful stop: stop sources, drain in-flight events, stop components. True if drained."""
        await self.stop_sources()
        drained = await self.drain(self.Config.drain_timeout if timeout is None else timeout)
        if not drained and self.in_flight:
            L.warning(
                "pipeline '%s': %d event(s) still in flight after the drain timeout; "
                "they were not acknowledged and will be delivered again",
                self.Id,
                self.in_flight,
            )
        if self.checkpointer is not None:
            await self.checkpointer.halt()  # no checkpoint releases batches after this
        # reject what is unfinished before cancelling: a cancelled task must not finish a batch
        self.abandon()
        await self._tasks.cancel()
        for component in reversed(list(self.components())):
            try:
                await component.stop()
            except Exception:
                L.exception("%s: stop failed", component.location())
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            await checkpointer.stop()
        self._started = False
        return drained

    def abandon(self) -> int:
        """Reject every batch still in flight (never acknowledged: the source delivers it again)."""
        live = list(self._live)
        for batch in live:
            batch.failed = True
            batch.pending = 0
            self._complete(batch)
        if live:
            L.warning("pipeline '%s': %d unfinished batch(es) rejected", self.Id, len(live))
        return len(live)

    # -- observability -----------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """A snapshot of the pipeline's and its components' counters."""
        c = self.counters
        return {
            "events_in": c.events_in,
            "events_out": c.events_out,
            "dropped": c.dropped,
            "aggregated": c.aggregated,
            "errors": c.errors,
            "warnings": c.warnings,
            "dead_lettered": self.dead_lettered,
            "in_flight": self.in_flight,
            "eps": self._rate.update(c.events_in),
            "ready": self.is_ready(),
            "throttled_by": [repr(t) for t in self._throttles],
            "error": self.error.as_dict() if self.error else None,
            "components": {comp.Id: comp.counters.snapshot() for comp in self.components()},
            **({"state": self.checkpointer.describe()} if self.checkpointer is not None else {}),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r}>"
