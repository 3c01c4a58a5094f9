"""SinkContract on core sinks: good ones pass every rule, broken ones fail the one they break."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import Field

import pump
from pump.common import ListSink
from pump.testing import SinkContract

pytest_plugins = ["pytester"]


class Destination:
    """A remote store in memory; `down` makes it refuse writes."""

    def __init__(self):
        self.rows = []
        self.down = False

    def store(self, events):
        if self.down:
            raise ConnectionError("destination is down")
        self.rows.extend(events)


class MemorySinkConfig(pump.ComponentConfig):
    batch_limit: int = Field(100, gt=0, description="Largest batch written at once")


class MemorySink(pump.Sink):
    """Writes each batch to its Destination synchronously: written when write() returns."""

    ConfigModel = MemorySinkConfig

    def __init__(self, app, pipeline, id=None, config=None, *, destination):
        super().__init__(app, pipeline, id, config)
        self.destination = destination

    def write(self, events, contexts):
        self.destination.store(events)


class BufferedMemorySink(MemorySink):
    """Buffers batches and stores them together after `linger` seconds or on flush().

    Each write returns a future that completes when its events are stored, as batching
    producers do.
    """

    linger = 0.02

    def __init__(self, app, pipeline, id=None, config=None, *, destination):
        super().__init__(app, pipeline, id, config, destination=destination)
        self.buffer = []
        self.timer = None

    def write(self, events, contexts):
        future = asyncio.get_running_loop().create_future()
        self.buffer.append((list(events), future))
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.linger, self.store_buffer)
        return future

    def store_buffer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        buffered, self.buffer = self.buffer, []
        try:
            self.destination.store([e for events, _ in buffered for e in events])
        except Exception as exc:
            for _, future in buffered:
                future.set_exception(exc)
        else:
            for _, future in buffered:
                future.set_result(None)

    async def flush(self):
        self.store_buffer()


# -- the good ones: pytest runs the whole contract on them ---------------------------------------


class MemoryDestinationContract(SinkContract):
    """Wires a sink class to a fresh in-memory Destination per test."""

    sink_class = MemorySink
    bad_configs = [{"batch_limit": 0}, {"batch_limit": "many"}]
    timeout = 5.0

    def prepare(self):
        self.destination = Destination()
        self.failing = Destination()
        self.failing.down = True

    def make_sink(self, app, pipeline, config=None):
        return self.sink_class(app, pipeline, "sink", config, destination=self.destination)

    def make_failing_sink(self, app, pipeline):
        return self.sink_class(app, pipeline, "sink", destination=self.failing)

    def read_back(self):
        return list(self.destination.rows)

    def interrupt_destination(self):
        self.destination.down = True

    def restore_destination(self):
        self.destination.down = False


class TestMemorySink(MemoryDestinationContract):
    pass


class TestBufferedMemorySink(MemoryDestinationContract):
    sink_class = BufferedMemorySink


class TestMemorySinkWithInjectedFailures(MemoryDestinationContract):
    """Without interrupt/restore hooks the retry rule injects failures before the sink."""

    interrupt_destination = SinkContract.interrupt_destination
    restore_destination = SinkContract.restore_destination


class AsyncReadBackContract(MemoryDestinationContract):
    """read_back() may be a coroutine (a query to a real server)."""

    async def read_back(self):
        await asyncio.sleep(0.001)
        return list(self.destination.rows)


class TestMemorySinkWithAsyncReadBack(AsyncReadBackContract):
    pass


class TestListSink(SinkContract):
    """pump.common.ListSink: in memory, so no failing destination (those rules skip)."""

    def make_sink(self, app, pipeline, config=None):
        self.sink = ListSink(app, pipeline, "list", config)
        return self.sink

    def read_back(self):
        return list(self.sink.events)


async def test_stop_flushes_a_buffer_that_would_otherwise_wait_a_minute():
    class LongLinger(BufferedMemorySink):
        linger = 60.0

    class Contract(MemoryDestinationContract):
        sink_class = LongLinger

    await Contract().test_stop_flushes_everything_handed_over()


# -- the broken ones: each fails the rule it breaks ---------------------------------------------


class EagerAckSink(MemorySink):
    """Reports a batch written at once and stores it a moment later (acknowledge before confirm)."""

    def write(self, events, contexts):
        asyncio.get_running_loop().call_later(0.01, self.destination.store, list(events))


class SwallowingSink(MemorySink):
    """Logs a failed write and reports success."""

    def write(self, events, contexts):
        with contextlib.suppress(ConnectionError):
            self.destination.store(events)


class FlushlessBufferedSink(BufferedMemorySink):
    """Buffers for a minute and ignores flush(): a stop leaves events behind."""

    linger = 60.0

    async def flush(self):
        pass


class MarkBeforeSendSink(MemorySink):
    """Remembers events as sent before sending them, so a retry skips them (events lost)."""

    def __init__(self, app, pipeline, id=None, config=None, *, destination):
        super().__init__(app, pipeline, id, config, destination=destination)
        self.sent = set()

    def write(self, events, contexts):
        fresh = [e for e in events if e["id"] not in self.sent]
        self.sent.update(e["id"] for e in fresh)
        self.destination.store(fresh)


class LaxConfigSink(MemorySink):
    """Declares batch_limit without bounds: a zero limit is accepted."""

    class ConfigModel(pump.ComponentConfig):
        batch_limit: int = 100


def broken(sink_class, **attributes):
    """A (non-collected) contract subclass over `sink_class`, with short timeouts."""
    return type(
        f"Broken{sink_class.__name__}Contract",
        (MemoryDestinationContract,),
        {"sink_class": sink_class, "timeout": 1.0, "drain_timeout": 0.3, **attributes},
    )


async def test_eager_ack_is_caught_acknowledging_before_the_write():
    with pytest.raises(
        AssertionError, match="acknowledged while 5 of its events were not at the destination"
    ):
        await broken(EagerAckSink)().test_no_batch_is_acknowledged_before_the_sink_confirmed()


async def test_eager_ack_is_caught_with_an_async_read_back():
    contract = type(
        "Broken", (AsyncReadBackContract,), {"sink_class": EagerAckSink, "timeout": 1.0}
    )
    with pytest.raises(AssertionError, match="were not at the destination"):
        await contract().test_no_batch_is_acknowledged_before_the_sink_confirmed()


async def test_eager_ack_is_caught_acknowledging_a_failed_destination():
    with pytest.raises(
        AssertionError, match="batches were acknowledged although the destination failed"
    ):
        await broken(EagerAckSink)().test_failing_destination_is_never_acknowledged()


async def test_swallowed_errors_are_caught():
    contract = broken(SwallowingSink)
    with pytest.raises(AssertionError, match="acknowledged although the destination failed"):
        await contract().test_failing_destination_is_never_acknowledged()
    with pytest.raises(AssertionError, match="not in the dead-letter sink"):
        await contract().test_exhausted_retries_go_to_the_dead_letter_sink()
    with pytest.raises(AssertionError, match="reported no failed write"):
        await contract().test_failed_write_is_retried_until_the_events_arrive()


async def test_ignored_flush_is_caught_on_stop():
    with pytest.raises(AssertionError, match=r"after stop, batches .* were not acknowledged"):
        await broken(FlushlessBufferedSink)().test_stop_flushes_everything_handed_over()


async def test_events_lost_on_retry_are_caught():
    with pytest.raises(AssertionError, match="written events are not at the destination"):
        await broken(MarkBeforeSendSink)().test_failed_write_is_retried_until_the_events_arrive()


async def test_unvalidated_config_is_caught():
    with pytest.raises(AssertionError, match=r"config \{'batch_limit': 0\} was accepted"):
        await broken(LaxConfigSink)().test_bad_config_is_refused_naming_the_key()


async def test_sink_that_drops_a_batch_silently_is_caught():
    class Forgetful(MemorySink):
        def write(self, events, contexts):
            if events[0]["id"] != 0:
                self.destination.store(events)

    with pytest.raises(AssertionError, match="5 of 20 written events are not at the destination"):
        await broken(Forgetful)().test_written_events_can_be_read_back()


async def test_failing_sink_tests_skip_without_a_failing_sink():
    class NoFailingSink(MemoryDestinationContract):
        def make_failing_sink(self, app, pipeline):
            return None

    with pytest.raises(pytest.skip.Exception, match="no make_failing_sink"):
        await NoFailingSink().test_exhausted_retries_go_to_the_dead_letter_sink()


CONTRACT_MODULE = """
import pump
from pump.common import ListSink
from pump.testing import SinkContract


class Store(pump.Sink):
    rows = []

    def write(self, events, contexts):
        Store.rows.extend(events)


class Late(Store):
    def write(self, events, contexts):
        import asyncio
        asyncio.get_running_loop().call_later(0.01, Store.rows.extend, list(events))


class TestGood(SinkContract):
    sink_class = Store

    def prepare(self):
        Store.rows.clear()

    def make_sink(self, app, pipeline, config=None):
        return self.sink_class(app, pipeline, config=config)

    def read_back(self):
        return list(Store.rows)


class TestLate(TestGood):
    sink_class = Late
    timeout = 1.0
"""


def outcomes_by_test(reprec):
    """{"Class::test": "passed" | "failed" | "skipped"} from an inline pytest run."""
    outcomes = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::", 1)[1]
        if report.when == "call" or report.outcome != "passed":
            outcomes.setdefault(name, report.outcome)
    return outcomes


def test_contract_collects_only_in_subclasses_and_runs_in_auto_mode(pytester):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_store=CONTRACT_MODULE)
    outcomes = outcomes_by_test(pytester.inline_run())
    assert {name.split("::")[0] for name in outcomes} == {"TestGood", "TestLate"}
    good = {n.split("::")[1]: o for n, o in outcomes.items() if n.startswith("TestGood::")}
    assert len(good) == 7
    assert sorted(n for n, o in good.items() if o == "skipped") == [
        "test_exhausted_retries_go_to_the_dead_letter_sink",
        "test_failing_destination_is_never_acknowledged",
    ]
    assert all(
        o == "passed" for n, o in good.items() if "failing" not in n and "dead_letter" not in n
    )
    assert outcomes["TestLate::test_no_batch_is_acknowledged_before_the_sink_confirmed"] == "failed"
