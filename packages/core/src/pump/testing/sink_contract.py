"""SinkContract: what every sink must do (docs/architecture.md §3, delivery), as pytest tests.

A connector's test module subclasses it and supplies the sink and a way to read back what
reached the destination:

    class TestMySink(SinkContract):
        bad_configs = [{"batch_size": 0}]

        def make_sink(self, app, pipeline, config=None):
            return MySink(app, pipeline, config={"url": URL, **(config or {})})

        def read_back(self):
            return fetch_everything_from(URL)

Each test method checks one rule; the base class is not collected itself (no `Test` prefix).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.deadletter import original_event
from pump.pipeline import Pipeline
from pump.sink import Sink
from pump.testing.contract import Contract
from pump.testing.harness import BatchRecord, CollectingSink, HarnessSource
from pump.testing.recorders import WriteRecorder
from pump.testing.waiting import maybe_await, wait_until


class SinkRig:
    """A running contract pipeline: harness source → sink under test (+ dead-letter sink)."""

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        source: HarnessSource,
        sink: Sink,
        dead_letter: CollectingSink,
        events: list[Any],
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.source = source
        self.sink = sink
        self.dead_letter = dead_letter
        self.writes = WriteRecorder(sink)
        self.events = events
        self.stopped = False

    @property
    def records(self) -> list[BatchRecord]:
        """The batches fed to the sink and what became of them."""
        return self.source.records

    def settled(self) -> bool:
        """Every batch acknowledged or rejected."""
        return all(r.status != BatchRecord.PENDING for r in self.records)

    def acknowledged(self) -> list[BatchRecord]:
        """Batches acknowledged."""
        return [r for r in self.records if r.status == BatchRecord.ACKNOWLEDGED]

    async def stop(self, timeout: float | None = None) -> int:
        """Stop the application (drain, flush, stop components); its exit code."""
        if self.stopped:
            return 0
        self.stopped = True
        return await self.app.stop(timeout=timeout)


class SinkContract(Contract):
    """Delivery rules for sinks; subclass as `class TestMySink(SinkContract)` and fill the hooks.

    Hooks may be plain functions or coroutines. Subclasses must give every test a fresh, empty
    destination (`prepare()`), since `read_back()` has to return exactly what the test wrote.
    """

    _make_hook = "make_sink"
    #: Events per batch the source hands over, and batches per test.
    batch_size: ClassVar[int] = 5
    batch_count: ClassVar[int] = 4
    #: Seconds the pipeline may take to drain on stop.
    drain_timeout: ClassVar[float] = 5.0

    # -- hooks ----------------------------------------------------------------------------

    def make_sink(
        self, app: Application, pipeline: Pipeline, config: Mapping[str, Any] | None = None
    ) -> Sink | Awaitable[Sink]:
        """The sink under test, with `config` merged over a working configuration.

        Register any connection it needs with `app.add_connection(...)`: the contract starts
        and stops the application.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_sink()")

    def read_back(self) -> Sequence[Any] | Awaitable[Sequence[Any]]:
        """Every event now at the destination, in the form `make_events` gave them."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_back()")

    def make_failing_sink(
        self, app: Application, pipeline: Pipeline
    ) -> Sink | Awaitable[Sink] | None:
        """A sink whose destination refuses writes promptly (None: those tests are skipped)."""
        return None

    def interrupt_destination(self) -> Awaitable[None] | None:
        """Optional: make the destination refuse writes until `restore_destination()`.

        Without it, the retry test makes the first writes fail before they reach the sink.
        """
        raise NotImplementedError

    def restore_destination(self) -> Awaitable[None] | None:
        """Optional: undo `interrupt_destination()`."""
        raise NotImplementedError

    # -- machinery ------------------------------------------------------------------------

    async def _rig(self, *, failing: bool = False, **pipeline_config: Any) -> SinkRig:
        app = Application(exit_when_finished=False)
        config = {
            "retry_backoff": 0.01,
            "retry_backoff_max": 0.05,
            "drain_timeout": self.drain_timeout,
            **pipeline_config,
        }
        pipeline = Pipeline(app, "sink_contract", config=config)
        source = HarnessSource(app, pipeline, "contract_source", batch_size=self.batch_size)
        if failing:
            made = await maybe_await(self.make_failing_sink(app, pipeline))
            if made is None:
                pytest.skip(f"{type(self).__name__} has no make_failing_sink()")
        else:
            made = await maybe_await(self.make_sink(app, pipeline))
        if not isinstance(made, Sink):
            raise TypeError(f"the sink hook returned {made!r}, not a pump.Sink")
        dead_letter = CollectingSink(app, pipeline, "contract_dead_letter")
        pipeline.build(source, made)
        pipeline.set_dead_letter(dead_letter)
        app.add_pipeline(pipeline)
        events = self.make_events(self.batch_size * self.batch_count)
        source.feed([(None, event) for event in events])
        return SinkRig(app, pipeline, source, made, dead_letter, events)

    async def _start(self, rig: SinkRig) -> None:
        try:
            await rig.app.start()
        except BaseException:
            await rig.stop(timeout=0.1)
            raise

    async def _wait_settled(self, rig: SinkRig, what: str) -> None:
        if not await wait_until(rig.settled, self.timeout):
            pending = [r for r in rig.records if r.status == BatchRecord.PENDING]
            await rig.stop(timeout=0.1)
            raise AssertionError(
                f"{what}: {len(pending)} of {len(rig.records)} batches were neither acknowledged "
                f"nor rejected after {self.timeout}s (sink writes: {rig.writes.calls}, "
                f"completed: {len(rig.writes.completed)}, pipeline errors: "
                f"{[e.as_dict()['error'] for e in rig.pipeline.errors]})"
            )

    async def _read_back(self) -> list[Any]:
        return list(await maybe_await(self.read_back()))

    def _missing_and_extra(
        self, expected: Sequence[Any], found: Sequence[Any]
    ) -> tuple[list[Any], list[Any]]:
        want = Counter(self.event_key(e) for e in expected)
        have = Counter(self.event_key(e) for e in found)
        missing = [e for e in expected if have[self.event_key(e)] == 0]
        extra = [e for e in found if want[self.event_key(e)] == 0]
        return missing, extra

    def _assert_all_read_back(
        self, expected: Sequence[Any], found: Sequence[Any], when: str
    ) -> None:
        missing, extra = self._missing_and_extra(expected, found)
        assert not missing, (
            f"{when}: {len(missing)} of {len(expected)} written events are not at the destination, "
            f"e.g. {missing[:3]!r}"
        )
        assert not extra, (
            f"{when}: the destination holds {len(extra)} events that were never written, "
            f"e.g. {extra[:3]!r} (does prepare() give each test a fresh destination?)"
        )

    # -- the rules --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_written_events_can_be_read_back(self) -> None:
        """Every event written is at the destination afterwards, with the same content."""
        await maybe_await(self.prepare())
        rig = await self._rig()
        await self._start(rig)
        await self._wait_settled(rig, "writing")
        await rig.stop()
        assert not [r for r in rig.records if r.status != BatchRecord.ACKNOWLEDGED], (
            "batches were rejected although the destination works: "
            f"{[e.as_dict()['error'] for e in rig.pipeline.errors]}"
        )
        self._assert_all_read_back(rig.events, await self._read_back(), "after writing")
        written = rig.pipeline.metrics()["events_out"]
        assert written == len(rig.events), (
            f"the pipeline counted {written} events written, expected {len(rig.events)}"
        )

    @pytest.mark.asyncio
    async def test_no_batch_is_acknowledged_before_the_sink_confirmed(self) -> None:
        """A batch is acked only after the sink reported its write done and it is readable."""
        await maybe_await(self.prepare())
        rig = await self._rig()
        violations: list[str] = []
        checks: list[asyncio.Task[None]] = []

        def at_settle(record: BatchRecord) -> None:
            if record.status != BatchRecord.ACKNOWLEDGED:
                return
            confirmed = Counter(
                self.event_key(e)
                for w in rig.writes.completed
                if w.tick < record.tick
                for e in w.events
            )
            unconfirmed = [e for e in record.events if confirmed[self.event_key(e)] == 0]
            if unconfirmed:
                violations.append(
                    f"batch {record.positions} was acknowledged before the sink reported "
                    f"{len(unconfirmed)} of its events written"
                )
            # Read the destination at the moment of the acknowledgement: exact when read_back()
            # is synchronous; an async read_back() is started right away (best effort).
            found = self.read_back()
            if inspect.isawaitable(found):
                checks.append(asyncio.ensure_future(check_later(record, found)))
            else:
                check(record, list(found))

        def check(record: BatchRecord, found: list[Any]) -> None:
            missing, _ = self._missing_and_extra(record.events, found)
            if missing:
                violations.append(
                    f"batch {record.positions} was acknowledged while {len(missing)} of its "
                    f"events were not at the destination, e.g. {missing[:2]!r}"
                )

        async def check_later(record: BatchRecord, found: Awaitable[Sequence[Any]]) -> None:
            check(record, list(await found))

        rig.source.on_settle.append(at_settle)
        await self._start(rig)
        await self._wait_settled(rig, "writing")
        await asyncio.gather(*checks)
        await rig.stop()
        assert not violations, "acknowledged before the write was durable:\n" + "\n".join(
            violations
        )
        assert len(rig.acknowledged()) == len(rig.records), "not every batch was acknowledged"

    @pytest.mark.asyncio
    async def test_failed_write_is_retried_until_the_events_arrive(self) -> None:
        """A write the destination refused is retried; the events arrive, then are acknowledged."""
        await maybe_await(self.prepare())
        rig = await self._rig(sink_retries=-1)
        interrupts = type(self).interrupt_destination is not SinkContract.interrupt_destination
        if interrupts:
            await maybe_await(self.interrupt_destination())
        else:
            rig.writes.fail_next = 2
        premature: list[list[int]] = []

        def at_settle(record: BatchRecord) -> None:
            done = Counter(
                self.event_key(e)
                for w in rig.writes.completed
                if w.tick < record.tick
                for e in w.events
            )
            if any(done[self.event_key(e)] == 0 for e in record.events):
                premature.append(record.positions)

        rig.source.on_settle.append(at_settle)
        await self._start(rig)
        if interrupts:
            refused = await wait_until(lambda: rig.writes.failures > 0, self.timeout)
            await maybe_await(self.restore_destination())
            if not refused:
                await rig.stop(timeout=0.1)
                raise AssertionError(
                    "the sink reported no failed write while the destination refused writes "
                    f"({rig.writes.calls} writes, {len(rig.writes.completed)} reported done)"
                )
        await self._wait_settled(rig, "retrying refused writes")
        await rig.stop()
        assert interrupts or rig.writes.injected == 2, (
            "the injected write failures were not reached"
        )
        assert not [r for r in rig.records if r.status != BatchRecord.ACKNOWLEDGED], (
            "batches were rejected although the retries should have written them: "
            f"{[e.as_dict()['error'] for e in rig.pipeline.errors]}"
        )
        assert not premature, f"batches {premature} were acknowledged before their retry completed"
        self._assert_all_read_back(rig.events, await self._read_back(), "after retried writes")

    @pytest.mark.asyncio
    async def test_failing_destination_is_never_acknowledged(self) -> None:
        """When the destination keeps failing, no batch is acknowledged as written."""
        await maybe_await(self.prepare())
        rig = await self._rig(failing=True, on_error="stop", sink_retries=1)
        await self._start(rig)
        await wait_until(lambda: rig.pipeline.is_error() or rig.settled(), self.timeout)
        await rig.stop(timeout=0.2)
        assert rig.writes.calls > 0, "the failing sink was never asked to write"
        acknowledged = rig.acknowledged()
        assert not acknowledged, (
            f"{len(acknowledged)} of {len(rig.records)} batches were acknowledged although the "
            "destination failed every write (the sink reported success it did not have)"
        )
        written = rig.pipeline.metrics()["events_out"]
        assert written == 0, (
            f"the pipeline counted {written} events as written to a failing destination"
        )

    @pytest.mark.asyncio
    async def test_exhausted_retries_go_to_the_dead_letter_sink(self) -> None:
        """With retries exhausted and on_error=dead_letter, events go to the dead-letter sink."""
        await maybe_await(self.prepare())
        rig = await self._rig(failing=True, on_error="dead_letter", sink_retries=1)
        await self._start(rig)
        await self._wait_settled(rig, "dead-lettering")
        await rig.stop()
        not_acked = [r.positions for r in rig.records if r.status != BatchRecord.ACKNOWLEDGED]
        assert not not_acked, f"dead-lettered batches {not_acked} were not acknowledged"
        dead = [original_event(record) for record in rig.dead_letter.events]
        missing, extra = self._missing_and_extra(rig.events, dead)
        assert not missing, (
            f"{len(missing)} of {len(rig.events)} events that could not be written are not in "
            f"the dead-letter sink, e.g. {missing[:3]!r}"
        )
        assert not extra, f"the dead-letter sink got events never written: {extra[:3]!r}"
        metrics = rig.pipeline.metrics()
        assert metrics["events_out"] == 0, (
            f"the pipeline counted {metrics['events_out']} events "
            "as written to a failing destination"
        )
        assert metrics["dead_lettered"] == len(rig.events)

    @pytest.mark.asyncio
    async def test_stop_flushes_everything_handed_over(self) -> None:
        """Stopping right after the hand-over leaves nothing buffered: all of it is written."""
        await maybe_await(self.prepare())
        rig = await self._rig()
        await self._start(rig)
        handed_over = await wait_until(
            lambda: rig.source.task is not None and rig.source.task.done(), self.timeout
        )
        assert handed_over, "the source could not hand its batches over"
        code = await rig.stop(timeout=self.drain_timeout)
        not_acked = [r.positions for r in rig.records if r.status != BatchRecord.ACKNOWLEDGED]
        assert not not_acked, (
            f"after stop, batches {not_acked} were not acknowledged: the sink did not finish "
            f"them within the drain (exit code {code})"
        )
        self._assert_all_read_back(rig.events, await self._read_back(), "after stop")
