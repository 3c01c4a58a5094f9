"""Routing between pipelines, with backpressure: InternalSource, RouterSink, TeeProcessor/Source.

A routed event stays part of the upstream batch that carried it: the upstream batch is
acknowledged only when the downstream pipeline has finished the routed copy. A downstream
queue above its bound throttles the pipelines feeding it instead of raising QueueFull.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from pump.config import ComponentConfig
from pump.delivery import Batch
from pump.errors import BuildError, ConfigError
from pump.processor import Processor
from pump.sink import Sink
from pump.source import Source
from pump.state.position import StreamPosition
from pump.waiting import wait_event

if TYPE_CHECKING:
    from pump.application import Application
    from pump.component import Component
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)


class InternalSourceConfig(ComponentConfig):
    """InternalSource settings."""

    queue_max_size: int = Field(
        1000, gt=0, description="Queued events above which upstream pipelines are throttled"
    )


class InternalSource(Source):
    """Receives events from other pipelines (their RouterSink or TeeProcessor)."""

    internal: ClassVar[bool] = True
    #: True while a batch put `at_once` is dispatched (by any internal source).
    _at_once: ClassVar[bool] = False
    #: Upstream batches waiting to be released while one is (see `_release`).
    _releases: ClassVar[deque[tuple[Batch, bool]] | None] = None
    ConfigModel = InternalSourceConfig
    Config: InternalSourceConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._queue: deque[tuple[list[Any], Sequence[dict[str, Any]], Batch | None]] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._upstreams: set[Pipeline] = set()
        self._throttling = False
        self._closed = False
        self._watched: set[asyncio.Task[None]] = set()  # upstream source tasks with a callback
        self._watchers: list[Callable[[], None]] = []
        #: TeeProcessors collecting copies for this source that they have not handed over yet.
        self.incoming = 0
        self._received = False
        self._told_unfed = False
        # batches whose upstream batch waits only for this pipeline's checkpoint now
        self._settled: set[Batch] = set()

    def stream_position(
        self, batch: Batch, contexts: Sequence[dict[str, Any]]
    ) -> StreamPosition | None:
        """Where the upstream source put the events: a routed copy's state follows the
        partition and positions of the events it was made from, so that after a crash this
        pipeline's restored state skips what the upstream source delivers again."""
        parent = batch.token
        source: Source | None = parent.source if isinstance(parent, Batch) else None
        return None if source is None else source.stream_position(parent, contexts)

    def register_upstream(self, pipeline: Pipeline) -> None:
        """Declare that `pipeline` feeds this source (the source ends after its upstreams end)."""
        self._upstreams.add(pipeline)
        self.Pipeline.link(pipeline)
        self._watch_upstreams()

    def watch_upstreams(self, callback: Callable[[], None]) -> None:
        """Call `callback` when this source becomes `exhausted()` (and on later wake-ups)."""
        if callback not in self._watchers:
            self._watchers.append(callback)
        self._watch_upstreams()

    def _watch_upstreams(self) -> None:
        # the end of an upstream source is seen at once rather than at the next poll; tasks
        # created later (a pipeline started after this one) are picked up by main()'s polling
        for upstream in self._upstreams:
            for source in upstream.Sources:
                task = source.task
                if task is not None and task not in self._watched:
                    self._watched.add(task)
                    task.add_done_callback(self._upstream_source_ended)

    def _upstream_source_ended(self, task: asyncio.Task[None]) -> None:
        self._watched.discard(task)
        self._wakeup.set()
        self._tell_watchers()

    def _tell_watchers(self) -> None:
        if self._watchers and self.exhausted():
            for callback in self._watchers:
                callback()

    def put_batch(
        self,
        events: list[Any],
        contexts: Sequence[dict[str, Any]],
        parent: Batch | None = None,
        at_once: bool = False,
    ) -> None:
        """Queue events; `parent` (held by the caller) is finished when they are done here.

        `at_once`: the caller is outside any pipeline's dispatch, so with nothing queued and
        the pipeline ready the events are dispatched now, while they are in the CPU's cache.
        """
        if self._closed:
            if parent is not None:
                parent.fail()
                parent.done()
            return
        if (
            at_once
            and not InternalSource._at_once
            and not self._queue
            and self.Pipeline.is_ready()
            and self._running()
        ):
            self._received = True
            # what this dispatch hands on at once is queued instead: no recursion in a cycle
            InternalSource._at_once = True
            try:
                self.Pipeline.process_batch(events, contexts=contexts, source=self, token=parent)
            except Exception as exc:  # as main() would end on it
                self.Pipeline.report_error(self, exc)
                self.Pipeline.set_error(None, None, exc, self)
            finally:
                InternalSource._at_once = False
            self._tell_watchers()
            return
        self._queue.append((events, contexts, parent))
        self._queued += len(events)
        self._received = True
        self._wakeup.set()
        if not self._throttling and self._queued >= self.Config.queue_max_size:
            self._throttling = True
            for upstream in self._upstreams:
                upstream.throttle(self, True)

    def put(self, context: dict[str, Any], event: Any, copy_context: bool = False) -> None:
        """BSPump's shape: queue one event (never raises QueueFull; upstreams are throttled)."""
        upstream_batch = None
        for upstream in self._upstreams:
            upstream_batch = upstream.current_batch
            if upstream_batch is not None:
                upstream_batch.hold()
                break
        self.put_batch([event], [dict(context) if copy_context else context], upstream_batch)

    async def main(self) -> None:
        while True:
            while self._queue:
                await self.Pipeline.ready()
                # nothing awaits between taking an item and handing it over, so a cancel can
                # never lose it: it is either still queued (rejected on stop) or in the pipeline
                events, contexts, parent = self._queue.popleft()
                self._queued -= len(events)
                if self._throttling and self._queued < self.Config.queue_max_size // 2:
                    self._throttling = False
                    for upstream in self._upstreams:
                        upstream.throttle(self, False)
                self.Pipeline.process_batch(events, contexts=contexts, source=self, token=parent)
            self._tell_watchers()
            if self._upstreams_finished():
                return
            if not self._upstreams and not self._received and not self._told_unfed:
                self._tell_if_unfed()
            self._watch_upstreams()
            self._wakeup.clear()
            await wait_event(self._wakeup, 0.05)

    def _running(self) -> bool:
        return self.task is not None and not self.task.done()

    def _tell_if_unfed(self) -> None:
        # A source nothing routes to waits until stopped: say so once every other pipeline has
        # finished, rather than leaving a run that looks hung (events put by code still count).
        others = [p for p in self.App.Pipelines.values() if p is not self.Pipeline]
        if others and all(p.sources_finished() and p.in_flight == 0 for p in others):
            self._told_unfed = True
            L.warning(
                "%s: no tee or router has sent it anything and every other pipeline has "
                "finished; it waits for events put by code until the run is stopped",
                self.location(),
            )

    def exhausted(self) -> bool:
        """True once every pipeline feeding this one has exhausted its own sources, and
        everything they routed here has been handed on."""
        if self.task is not None and self.task.done():
            return True
        return (
            bool(self._upstreams)
            and not self._queue
            and not self.incoming
            and all(p.sources_exhausted() for p in self._upstreams)
        )

    def _upstreams_finished(self) -> bool:
        return bool(self._upstreams) and all(
            (p.sources_finished() and p.in_flight == 0) or p.is_error() for p in self._upstreams
        )

    async def stop(self) -> None:
        self._closed = True
        while self._queue:
            _, _, parent = self._queue.popleft()
            if parent is not None:
                parent.fail()
                parent.done()
        for upstream in self._upstreams:
            upstream.throttle(self, False)

    def settled(self, batch: Batch) -> None:
        """The routed copy is absorbed into this pipeline's state (or done) and waits for its
        checkpoint: so does the upstream batch, whose events then leave the upstream's
        `max_in_flight` too."""
        parent = batch.token
        if parent is None or batch in self._settled:
            return
        self._settled.add(batch)
        upstream = parent.source.Pipeline if parent.source is not None else None
        parent.count_as_checkpoint_hold(upstream.settled if upstream is not None else None)

    def acknowledge(self, batch: Batch) -> None:
        parent = batch.token
        if parent is not None:
            self._release(parent, batch)
            self._wakeup.set()  # the upstream may be finished now: main() looks at once

    def reject(self, batch: Batch) -> None:
        parent = batch.token
        if parent is not None:
            parent.fail()
            self._release(parent, batch)
            self._wakeup.set()

    def _release(self, parent: Batch, batch: Batch) -> None:
        """The upstream batch's copy is done. Releasing it may complete it, and through a
        cycle of pipelines that completes the batch before it: those are released one after
        another here, rather than each inside the other's completion (no recursion)."""
        settled = batch in self._settled
        if settled:
            self._settled.discard(batch)
        releases = InternalSource._releases
        if releases is not None:  # inside another release: its loop takes this one too
            releases.append((parent, settled))
            return
        releases = InternalSource._releases = deque([(parent, settled)])
        try:
            while releases:
                parent, settled = releases.popleft()
                try:
                    if settled:
                        parent.release_checkpoint()
                    else:
                        parent.done()
                except Exception:
                    L.exception("%s: releasing an upstream batch failed", self.location())
        finally:
            InternalSource._releases = None


class TeeSource(InternalSource):
    """BSPump's TeeSource: an InternalSource (default id 'TeeSource') fed by TeeProcessors.

    Bind either way: `TeeProcessor(app, p).bind("Other.*TeeSource")`, or
    `TeeSource(app, other).bind("P.TeeProcessorId")`.
    """

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        #: Addresses (`pipeline.ProcessorId`) of the TeeProcessors bound to this source.
        self.Targets: list[str] = []

    def bind(self, processor: str) -> TeeSource:
        """Receive the copies of the TeeProcessor at `processor`; returns the source."""
        if processor not in self.Targets:
            self.Targets.append(processor)
        return self

    async def start(self) -> None:
        for address in self.Targets:
            try:
                found = self.App.locate(address)
            except BuildError as exc:
                raise BuildError(f"{self.location()}: bind('{address}'): {exc}") from None
            if not isinstance(found, TeeProcessor):
                raise BuildError(
                    f"{self.location()}: bind('{address}'): {found!r} is not a TeeProcessor"
                )
        await super().start()


def _resolve_target(app: Application, address: str, who: str) -> InternalSource:
    """`pipeline.*SourceId`, or `pipeline` meaning its only InternalSource."""
    if ".*" in address:
        source = app.locate(address)
    else:
        internal = [
            s for s in app.locate_pipeline(address).Sources if isinstance(s, InternalSource)
        ]
        if len(internal) != 1:
            raise BuildError(
                f"{who}: pipeline '{address}' has {len(internal)} InternalSources; "
                f"name one as '{address}.*SourceId'"
            )
        source = internal[0]
    if not isinstance(source, InternalSource):
        raise BuildError(f"{who}: target '{address}' is not an InternalSource")
    return source


class RouterSinkConfig(ComponentConfig):
    """RouterSink settings."""

    target: str = Field("", description="Default target: 'pipeline' or 'pipeline.*SourceId'")


class RouterSink(Sink):
    """Sends each event to another pipeline; override `route()` to choose per event.

    The event is done when the target pipeline is done with it. `route` returns a target
    address, a list of them (each gets a copy), or None to drop the event.
    """

    ConfigModel = RouterSinkConfig
    Config: RouterSinkConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._targets: dict[str, InternalSource] = {}

    async def start(self) -> None:
        if self.Config.target:
            self._target(self.Config.target)

    def route(self, context: dict[str, Any], event: Any) -> str | list[str] | None:
        """The target address(es) for this event; the default is the configured `target`."""
        return self.Config.target or None

    def _target(self, address: str) -> InternalSource:
        source = self._targets.get(address)
        if source is None:
            assert self.Pipeline is not None
            source = _resolve_target(self.App, address, self.location())
            source.register_upstream(self.Pipeline)
            self._targets[address] = source
        return source

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        assert self.Pipeline is not None
        batch = self.Pipeline.current_batch
        groups: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
        for context, event in zip(contexts, events, strict=True):
            targets = self.route(context, event)
            if targets is None:
                continue
            if isinstance(targets, str):
                group = groups.setdefault(targets, ([], []))
                group[0].append(event)
                group[1].append(context)
                continue
            for i, target in enumerate(targets):
                group = groups.setdefault(target, ([], []))
                group[0].append(event if i == 0 else copy.deepcopy(event))
                group[1].append(dict(context))
        for address, (evs, ctxs) in groups.items():
            self._target(address).put_batch(evs, ctxs, batch.hold() if batch else None)


class TeeProcessorConfig(ComponentConfig):
    """TeeProcessor settings."""

    target: str = Field(
        "", description="'pipeline' or 'pipeline.*SourceId' (or set with bind(), as in BSPump)"
    )
    deep_copy: bool = Field(True, description="Copy the event deeply (else shallow)")
    share: bool = Field(
        False,
        description="Hand over the event itself, not a copy (its context too, unless a later "
        "processor declares writes_context): only when nothing changes events after the tee, "
        "in either pipeline",
    )


_PLAIN_DICT = {dict}


def _same(event: Any) -> Any:
    return event


class TeeProcessor(Processor):
    """Sends a copy of each event to another pipeline and passes the event on.

    The copies of one upstream batch travel together: they are handed over as one batch when
    the batch has gone through the chain, holding the upstream batch until they are done.
    """

    ConfigModel = TeeProcessorConfig
    Config: TeeProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._source: InternalSource | None = None
        c = self.Config
        self._copy = _same if c.share else copy.deepcopy if c.deep_copy else copy.copy
        self._shallow = not c.deep_copy and not c.share
        self._share_contexts = False  # decided at start, once the target is known
        self._batch: Batch | None = None
        self._events: list[Any] = []
        self._contexts: Sequence[dict[str, Any]] = []
        self._flush_soon: asyncio.Handle | None = None

    @classmethod
    def from_config(
        cls,
        app: Application,
        pipeline: Pipeline | None,
        id: str | None,
        config: Mapping[str, Any],
    ) -> Component:
        """From YAML there is no bind(): `target` is required."""
        if not config.get("target"):
            where = f"{cls.__name__} '{id}'" if id else cls.__name__
            raise ConfigError(where, ["key 'target': required"])
        return super().from_config(app, pipeline, id, config)

    def bind(self, target: str) -> TeeProcessor:
        """Send the copies to `target` (BSPump's way of setting it); returns the processor."""
        if self.Config.target and self.Config.target != target:
            raise BuildError(
                f"{self.location()}: already sends to '{self.Config.target}'; a TeeProcessor "
                f"has one target, add another TeeProcessor for '{target}'"
            )
        self.Config.target = target
        return self

    async def start(self) -> None:
        assert self.Pipeline is not None
        bound = self._bound_by_tee_sources()
        if bound and not self.Config.target and len(bound) == 1:
            self.Config.target = bound[0]
        if bound and bound != [self.Config.target]:
            raise BuildError(
                f"{self.location()}: bound by {', '.join(bound)} but sends to "
                f"'{self.Config.target or bound[0]}'; a TeeProcessor has one target"
            )
        if not self.Config.target:
            raise BuildError(f"{self.location()}: no target; set 'target' or call bind()")
        self._source = _resolve_target(self.App, self.Config.target, self.location())
        self._source.register_upstream(self.Pipeline)
        # shared contexts too, unless a processor after the tee, here or there, writes to them
        mine = self.Pipeline.Processors
        later = mine[mine.index(self) + 1 :] if self in mine else []
        self._share_contexts = self.Config.share and not any(
            isinstance(p, Processor) and p.writes_context
            for p in [*later, *self._source.Pipeline.Processors]
        )

    def _bound_by_tee_sources(self) -> list[str]:
        """Addresses of the TeeSources that bound themselves to this processor."""
        assert self.Pipeline is not None
        me = f"{self.Pipeline.Id}.{self.Id}"
        return [
            f"{pipeline.Id}.*{source.Id}"
            for pipeline in self.App.Pipelines.values()
            for source in pipeline.Sources
            if isinstance(source, TeeSource) and me in source.Targets
        ]

    def process(self, context: dict[str, Any], event: Any) -> Any:
        batch = self.Pipeline.current_batch  # type: ignore[union-attr]
        if batch is not self._batch or not self._events:
            self._new_batch(batch)
        # a dict (the usual event) is copied by its own method, without copy.copy's dispatch
        self._events.append(
            event.copy() if self._shallow and type(event) is dict else self._copy(event)
        )
        self._listed_contexts().append(context if self._share_contexts else dict(context))
        return event

    def process_batch(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Copy the whole batch at once (plain dicts by one C-level call), pass it on as it is."""
        if self._copy is _same:
            copies = list(events)
        elif self._shallow and {*map(type, events)} == _PLAIN_DICT:
            copies = list(map(dict.copy, events))
        else:
            copies = list(map(self._copy, events))  # a failure here leaves nothing half done
        batch = self.Pipeline.current_batch  # type: ignore[union-attr]
        if batch is not self._batch or not self._events:
            self._new_batch(batch)
        self._events += copies
        mine = contexts if self._share_contexts else list(map(dict, contexts))
        if self._contexts or isinstance(mine, list):
            self._listed_contexts().extend(mine)
        else:
            self._contexts = mine  # numbered contexts (pump.context) stay unmade
        return None

    def _listed_contexts(self) -> list[dict[str, Any]]:
        """The contexts collected so far, as a list of this processor's own."""
        if not isinstance(self._contexts, list):
            self._contexts = list(self._contexts)
        return self._contexts

    def _new_batch(self, batch: Batch | None) -> None:
        self._hand_over()
        assert self._source is not None
        self._source.incoming += 1  # until handed over: the target is not exhausted before
        # held now, while the batch is being dispatched, so it cannot complete before its
        # copies are done downstream
        self._batch = batch.hold() if batch is not None else None
        # right after the dispatch, outside of it, the copies can be dispatched downstream at
        # once (called soon too: events processed outside a source's batch, by a generator)
        self._flush_soon = asyncio.get_running_loop().call_soon(self._hand_over, True)
        assert self.Pipeline is not None
        self.Pipeline.after_dispatch(self._hand_over_at_once)

    def _hand_over_at_once(self) -> None:
        self._hand_over(True)

    def _hand_over(self, at_once: bool = False) -> None:
        if self._flush_soon is None:
            return  # nothing collected since the last hand-over
        self._flush_soon.cancel()
        self._flush_soon = None
        batch, self._batch = self._batch, None
        assert self._source is not None
        self._source.incoming -= 1
        if self._events:
            events, contexts = self._events, self._contexts
            self._events, self._contexts = [], []
            self._source.put_batch(events, contexts, batch, at_once)
        elif batch is not None:
            batch.done()  # nothing to hand over (copying failed): release the hold

    async def flush(self) -> None:
        self._hand_over()
