"""The shared toolkit: Backoff, TaskGroup, RateLimitedLog."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging

import pytest

import pump
from pump.backoff import retry_after


def test_backoff_grows_exponentially_to_the_cap_without_jitter() -> None:
    backoff = pump.Backoff(first=0.5, maximum=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_stays_within_its_band_and_below_the_cap() -> None:
    backoff = pump.Backoff(first=1.0, maximum=1.5, jitter=0.5)
    delays = [backoff.next_delay() for _ in range(200)]
    assert delays[0] >= 0.5
    assert all(d <= 1.5 for d in delays)
    assert len({round(d, 6) for d in delays}) > 10  # really randomised


def test_backoff_for_downtime_doubles_the_pause_per_attempt_within_the_bounds() -> None:
    b = pump.Backoff(first=0.5, maximum=8.0, jitter=0.0)
    pauses = [b.for_downtime(down) for down in (0.0, 0.1, 1.0, 2.0, 4.0, 100.0)]
    assert pauses == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert b.attempt == 0  # nothing counted


def test_backoff_attempt_limit() -> None:
    backoff = pump.Backoff(first=0.001, maximum=0.001, jitter=0.0, attempts=2)
    assert list(backoff.delays()) == [0.001, 0.001]
    assert backoff.exhausted
    with pytest.raises(pump.RetriesExhausted):
        asyncio.run(backoff.wait())


async def test_backoff_pause_waits_what_a_busy_server_asks_within_a_bound_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("pump.test.pause")
    backoff = pump.Backoff(first=0.01, maximum=0.01, jitter=0.0, attempts=4)
    with caplog.at_level(logging.WARNING, logger="pump.test.pause"):
        # no Retry-After, or a shorter one: the backoff's own delay
        assert await backoff.pause(log, "sink: 503") == 0.01
        assert await backoff.pause(log, "sink: 429", asked=0.0) == 0.01
        # a longer one is waited out, up to the bound
        start = asyncio.get_running_loop().time()
        assert await backoff.pause(log, "sink: 429", asked=0.05) == 0.05
        assert asyncio.get_running_loop().time() - start >= 0.045
        assert await backoff.pause(log, "sink: 429", asked=3600.0, asked_max=0.02) == 0.02
    assert backoff.exhausted
    assert [r.getMessage() for r in caplog.records] == [
        "sink: 503; retry 1/4 in 0.01s",
        "sink: 429; retry 2/4 in 0.01s",
        "sink: 429; retry 3/4 in 0.05s",
        "sink: 429; retry 4/4 in 0.02s",
    ]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(None) is None
    assert retry_after("") is None
    assert retry_after("7") == 7.0
    assert retry_after("1.5") == 1.5
    assert retry_after("-3") == 0.0  # never a negative pause
    assert retry_after("soon") is None
    assert retry_after("nan") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=120)
    asked = retry_after(email.utils.format_datetime(later, usegmt=True))
    assert asked is not None and 100 < asked <= 120


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"first": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": 2}]
)
def test_backoff_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        pump.Backoff(**kwargs)


async def test_taskgroup_reports_failures_and_drains() -> None:
    failures: list[BaseException] = []
    idle: list[bool] = []
    group = pump.TaskGroup("test", on_error=failures.append, on_idle=lambda: idle.append(True))

    async def boom() -> None:
        raise RuntimeError("boom")

    done = asyncio.Event()

    async def slow() -> None:
        await asyncio.sleep(0.01)
        done.set()

    group.spawn(boom())
    group.spawn(slow())
    assert len(group) == 2
    assert await group.drain(timeout=1.0)
    assert done.is_set()
    assert [str(e) for e in failures] == ["boom"]
    assert idle and not group


async def test_taskgroup_drain_times_out_and_cancel_ends_tasks() -> None:
    group = pump.TaskGroup("test")
    task = group.spawn(asyncio.sleep(10))
    assert not await group.drain(timeout=0.01)
    await group.cancel()
    assert task.cancelled()
    assert not group


def test_rate_limited_log_counts_what_it_suppresses(caplog: pytest.LogCaptureFixture) -> None:
    log = pump.RateLimitedLog(logging.getLogger("pump.test"), interval=3600)
    with caplog.at_level(logging.WARNING, logger="pump.test"):
        assert log.warning("problem %d", 1)
        assert not log.warning("problem %d", 2)
        assert not log.warning("problem %d", 3)
    assert [r.getMessage() for r in caplog.records] == ["problem 1"]
    assert log.suppressed == 2
    log.interval = 0
    with caplog.at_level(logging.WARNING, logger="pump.test"):
        assert log.warning("problem %d", 4)
    assert caplog.records[-1].getMessage() == "problem 4 (2 more since the last message)"
