"""SourceContract: what every source must do (docs/architecture.md §3, delivery), as pytest tests.

A connector's test module subclasses it and supplies the source and a way to put events at
its origin:

    class TestMySource(SourceContract):
        supports_redelivery = True
        expected_context_keys = ("topic", "partition", "offset")

        def make_source(self, app, pipeline, config=None):
            return MySource(app, pipeline, config={"topic": self.topic, **(config or {})})

        async def produce(self, events):
            await put_on_topic(self.topic, events)

Each test method checks one rule; the base class is not collected itself (no `Test` prefix).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.pipeline import Pipeline
from pump.source import Source
from pump.testing.contract import Contract
from pump.testing.harness import CollectingSink
from pump.testing.recorders import HandoverRecorder, tick
from pump.testing.waiting import maybe_await, wait_quiet, wait_until


class SourceRig:
    """A contract pipeline: source under test → collecting sink, with hand-overs recorded."""

    def __init__(
        self, app: Application, pipeline: Pipeline, source: Source, sink: CollectingSink
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.source = source
        self.sink = sink
        self.recorder = HandoverRecorder(pipeline, source)
        self.stopped = False

    async def stop(self, timeout: float | None = None) -> int:
        """Stop the application (stop fetching, drain, stop components); its exit code."""
        if self.stopped:
            return 0
        self.stopped = True
        self.sink.release()
        return await self.app.stop(timeout=timeout)


class SourceContract(Contract):
    """Delivery rules for sources; subclass as `class TestMySource(SourceContract)`, fill the hooks.

    Hooks may be plain functions or coroutines. `prepare()` must give every test a fresh origin;
    within a test, a restarted source (a new instance from `make_source`) reads the same origin.
    """

    _make_hook = "make_source"
    #: True when events not acknowledged (rejected, or in flight at a stop) come again after a
    #: restart; enables the redelivery tests.
    supports_redelivery: ClassVar[bool] = False
    #: Metadata keys every event's context must carry (topic, offset, filename, ...).
    expected_context_keys: ClassVar[Sequence[str]] = ()
    #: True for sources that only see events produced while they run (else produced before).
    produce_after_start: ClassVar[bool] = False
    #: Events produced per test.
    event_count: ClassVar[int] = 20
    #: The pipeline bound used by the backpressure test (give the source small batches).
    max_in_flight: ClassVar[int] = 4
    #: Seconds without a new hand-over that count as "the source is waiting".
    quiet_period: ClassVar[float] = 0.3

    # -- hooks ----------------------------------------------------------------------------

    def make_source(
        self, app: Application, pipeline: Pipeline, config: Mapping[str, Any] | None = None
    ) -> Source | Awaitable[Source]:
        """The source under test, reading the test's origin, `config` merged over a working one.

        Register any connection it needs with `app.add_connection(...)`: the contract starts
        and stops the application.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_source()")

    def produce(self, events: list[Any]) -> Awaitable[None] | None:
        """Put events at the origin (a topic, a queue, a file), in order."""
        raise NotImplementedError(f"{type(self).__name__} must implement produce()")

    def decode(self, event: Any) -> Any:
        """Turn an event as the source hands it over back into the form given to `produce`."""
        return event

    # -- machinery ------------------------------------------------------------------------

    async def _rig(self, **pipeline_config: Any) -> SourceRig:
        app = Application(exit_when_finished=False)
        config = {"retry_backoff": 0.01, "drain_timeout": self.timeout, **pipeline_config}
        pipeline = Pipeline(app, "source_contract", config=config)
        made = await maybe_await(self.make_source(app, pipeline))
        if not isinstance(made, Source):
            raise TypeError(f"make_source() returned {made!r}, not a pump.Source")
        sink = CollectingSink(app, pipeline, "contract_sink")
        pipeline.build(made, sink)
        app.add_pipeline(pipeline)
        return SourceRig(app, pipeline, made, sink)

    async def _start(self, rig: SourceRig, events: list[Any]) -> None:
        if events and not self.produce_after_start:
            await maybe_await(self.produce(events))
        try:
            await rig.app.start()
        except BaseException:
            await rig.stop(timeout=0.1)
            raise
        if events and self.produce_after_start:
            await maybe_await(self.produce(events))

    def _received(self, rig: SourceRig) -> Counter[Hashable]:
        return Counter(self.event_key(self.decode(e)) for e in rig.sink.events)

    def _keys(self, events: Sequence[Any]) -> set[Hashable]:
        return {self.event_key(e) for e in events}

    async def _wait_arrived(self, rig: SourceRig, events: Sequence[Any], when: str) -> None:
        wanted = self._keys(events)

        def arrived() -> bool:
            return wanted <= set(self._received(rig))

        if not await wait_until(arrived, self.timeout):
            missing = wanted - set(self._received(rig))
            await rig.stop(timeout=0.2)
            raise AssertionError(
                f"{when}: {len(missing)} of {len(wanted)} produced events did not arrive within "
                f"{self.timeout}s (handed over: {rig.recorder.handed_over} events in "
                f"{len(rig.recorder.handovers)} batches; pipeline errors: "
                f"{[e.as_dict()['error'] for e in rig.pipeline.errors]})"
            )

    async def _wait_handed_over(self, rig: SourceRig) -> None:
        if not await wait_until(lambda: bool(rig.recorder.handovers), self.timeout):
            await rig.stop(timeout=0.2)
            raise AssertionError(f"the source handed nothing over within {self.timeout}s")
        await wait_quiet(lambda: rig.recorder.handed_over, self.quiet_period, self.timeout)

    async def _restart(self, expected: Sequence[Any], when: str) -> SourceRig:
        """A new source on the same origin; returns once `expected` and a fresh marker arrived."""
        rig = await self._rig()
        marker = self.make_events(1)
        await self._start(rig, marker)
        await self._wait_arrived(rig, [*expected, *marker], when)
        # Events older than the marker normally come first; give stragglers a moment anyway.
        await wait_quiet(lambda: len(rig.sink.outputs), self.quiet_period, self.timeout)
        await rig.stop()
        return rig

    def _require_redelivery(self) -> None:
        if not self.supports_redelivery:
            pytest.skip(f"{type(self).__name__} does not declare supports_redelivery")

    async def _read_all(self) -> tuple[SourceRig, list[Any]]:
        """A fresh origin with `event_count` events, read until all arrived; then stopped."""
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig()
        await self._start(rig, events)
        await self._wait_arrived(rig, events, "reading")
        await rig.stop()
        return rig, events

    # -- the rules --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_produced_events_arrive(self) -> None:
        """Every event produced at the origin is handed over, and nothing else."""
        rig, events = await self._read_all()
        unknown = set(self._received(rig)) - self._keys(events)
        assert not unknown, (
            f"the source handed over {len(unknown)} events that were never produced "
            "(does prepare() give each test a fresh origin? does decode() undo the source's form?)"
        )

    @pytest.mark.asyncio
    async def test_context_carries_the_metadata(self) -> None:
        """Every event's context is a mapping holding the connector's metadata keys."""
        if not self.expected_context_keys:
            pytest.skip(f"{type(self).__name__} declares no expected_context_keys")
        rig, _ = await self._read_all()
        for context, event in rig.sink.outputs:
            absent = [k for k in self.expected_context_keys if k not in context]
            assert not absent, f"the context of {event!r} lacks {absent}: {context!r}"

    @pytest.mark.asyncio
    async def test_waits_for_ready_when_the_pipeline_is_full(self) -> None:
        """With the sink stuck, the source hands over at most max_in_flight + 1 batch and waits."""
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig(max_in_flight=self.max_in_flight)
        rig.sink.block()
        await self._start(rig, events)
        await self._wait_handed_over(rig)
        sizes = [len(h.events) for h in rig.recorder.handovers]
        before_last = sum(sizes[:-1])
        if before_last >= self.max_in_flight:
            await rig.stop(timeout=0.2)
            raise AssertionError(
                f"the source handed over {sum(sizes)} events in {len(sizes)} batches {sizes} "
                f"while max_in_flight={self.max_in_flight} and nothing was done: it did not "
                "wait for pipeline.ready() (emit() and process() do)"
            )
        rig.sink.release()
        await self._wait_arrived(rig, events, "after the sink resumed")
        await rig.stop()

    @pytest.mark.asyncio
    async def test_acknowledges_only_after_the_sink_is_done(self) -> None:
        """No batch is acknowledged while the sink holds it; each is acknowledged once done."""
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig()
        rig.sink.block()
        await self._start(rig, events)
        await self._wait_handed_over(rig)
        recorder = rig.recorder
        early = [h for h in recorder.handovers if h.settled]
        if early or recorder.stray:
            await rig.stop(timeout=0.2)
            raise AssertionError(
                f"{len(early)} batches were acknowledged or rejected, and "
                f"{len(recorder.stray)} unknown batches acknowledged, while the sink had not "
                "finished any of them"
            )
        released = tick()
        rig.sink.release()
        await self._wait_arrived(rig, events, "after the sink resumed")
        all_acked = await wait_until(
            lambda: all(h.acknowledged for h in recorder.handovers), self.timeout
        )
        await rig.stop()
        assert all_acked, (
            f"{sum(1 for h in recorder.handovers if not h.acknowledged)} of "
            f"{len(recorder.handovers)} batches were never acknowledged after the sink finished"
        )
        twice = [h for h in recorder.handovers if len(h.acknowledged) > 1 or h.rejected]
        assert not twice, f"{len(twice)} batches were acknowledged twice or also rejected"
        assert not recorder.stray, f"unknown batches were acknowledged: {recorder.stray[:3]!r}"
        assert all(t > released for h in recorder.handovers for t in h.acknowledged), (
            "a batch was acknowledged before the sink was released"
        )
        if self.supports_redelivery:
            again = await self._restart([], "after a restart")
            redelivered = set(self._received(again)) & self._keys(events)
            assert not redelivered, (
                f"{len(redelivered)} acknowledged events came again after a restart: "
                "acknowledge() did not commit them at the origin"
            )

    @pytest.mark.asyncio
    async def test_stop_drains_what_was_handed_over(self) -> None:
        """On stop, every batch already handed over is finished and acknowledged, not dropped."""
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig()
        rig.sink.delay = 0.05
        await self._start(rig, events)
        if not await wait_until(lambda: bool(rig.recorder.handovers), self.timeout):
            await rig.stop(timeout=0.2)
            raise AssertionError(f"the source handed nothing over within {self.timeout}s")
        await rig.stop()
        recorder = rig.recorder
        not_acked = [h for h in recorder.handovers if not h.acknowledged or h.rejected]
        assert not not_acked, (
            f"{len(not_acked)} of {len(recorder.handovers)} batches handed over before the stop "
            "were not acknowledged after the drain"
        )
        handed = [e for h in recorder.handovers for e in h.events]
        written = Counter(self.event_key(e) for e in rig.sink.events)
        assert all(written[self.event_key(e)] for e in handed), (
            "handed-over events were lost on stop"
        )
        if self.supports_redelivery:
            done = {self.event_key(self.decode(e)) for e in handed}
            rest = [e for e in events if self.event_key(e) not in done]
            again = await self._restart(rest, "after a restart")
            redelivered = set(self._received(again)) & done
            assert not redelivered, (
                f"{len(redelivered)} events acknowledged during the drain came again after a "
                "restart: the source lost their commits when it stopped"
            )

    @pytest.mark.asyncio
    async def test_unacknowledged_events_come_again_after_restart(self) -> None:
        """Events still in flight when the source stopped are delivered again by the next one."""
        self._require_redelivery()
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig(drain_timeout=0.2)
        rig.sink.block()
        await self._start(rig, events)
        await self._wait_handed_over(rig)
        await rig.app.stop(timeout=0.2)
        rig.stopped = True
        acked = rig.recorder.acknowledged()
        assert not acked, f"{len(acked)} batches were acknowledged although the sink never finished"
        await self._restart(events, "after a restart, the unacknowledged events")

    @pytest.mark.asyncio
    async def test_rejected_events_come_again_after_restart(self) -> None:
        """Events of a rejected batch (the sink failed, the pipeline stopped) come again later."""
        self._require_redelivery()
        await maybe_await(self.prepare())
        events = self.make_events(self.event_count)
        rig = await self._rig(on_error="stop", sink_retries=0)
        rig.sink.fail_with = ConnectionError("pump contract: the sink refuses every write")
        await self._start(rig, events)
        failed = await wait_until(lambda: bool(rig.recorder.rejected()), self.timeout)
        await rig.stop(timeout=0.2)
        assert failed, "no batch was rejected although every write failed"
        acked = rig.recorder.acknowledged()
        assert not acked, f"{len(acked)} batches were acknowledged although every write failed"
        await self._restart(events, "after a restart, the rejected events")
