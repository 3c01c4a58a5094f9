"""CronTrigger: next fire times from croniter, in a time zone, and real firing on the second."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import pump
from pump.trigger import CronTrigger, TriggerSource

PRAGUE = ZoneInfo("Europe/Prague")


def cron(expression, **kwargs):
    return CronTrigger(pump.Application(), expression, **kwargs)


def test_next_fire_every_five_minutes():
    trigger = cron("*/5 * * * *")
    after = datetime(2024, 1, 1, 10, 2, 30, tzinfo=UTC)
    assert trigger.next_fire(after) == datetime(2024, 1, 1, 10, 5, tzinfo=UTC)
    # strictly after: a fire time itself gives the next one
    assert trigger.next_fire(datetime(2024, 1, 1, 10, 5, tzinfo=UTC)) == datetime(
        2024, 1, 1, 10, 10, tzinfo=UTC
    )


def test_next_fire_crosses_day_and_month():
    trigger = cron("15 3 1 * *")  # 03:15 on the 1st of each month
    after = datetime(2024, 1, 31, 23, 59, tzinfo=UTC)
    assert trigger.next_fire(after) == datetime(2024, 2, 1, 3, 15, tzinfo=UTC)


def test_next_fire_accepts_a_unix_timestamp():
    trigger = cron("0 * * * *")
    ts = datetime(2024, 5, 5, 7, 59, 59, tzinfo=UTC).timestamp()
    assert trigger.next_fire(ts) == datetime(2024, 5, 5, 8, 0, tzinfo=UTC)


def test_next_fire_in_a_time_zone():
    trigger = cron("0 9 * * *", timezone="Europe/Prague")
    # 10:00 in Prague (summer, UTC+2): 09:00 today has passed, so tomorrow 09:00 local
    after = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    nxt = trigger.next_fire(after)
    assert nxt == datetime(2024, 6, 2, 9, 0, tzinfo=PRAGUE)
    assert nxt.astimezone(UTC) == datetime(2024, 6, 2, 7, 0, tzinfo=UTC)


def test_naive_datetime_is_read_in_the_trigger_time_zone():
    trigger = cron("30 12 * * *", timezone=PRAGUE)
    nxt = trigger.next_fire(datetime(2024, 1, 10, 12, 0))  # naive: 12:00 in Prague
    assert nxt == datetime(2024, 1, 10, 12, 30, tzinfo=PRAGUE)


def test_seconds_field_and_default_now():
    trigger = cron("* * * * * */10")  # every 10 seconds
    nxt = trigger.next_fire()
    now = datetime.now(UTC)
    assert 0 < (nxt - now).total_seconds() <= 10
    assert nxt.second % 10 == 0


def test_invalid_expression_is_a_config_error_naming_the_trigger():
    with pytest.raises(
        pump.ConfigError, match=r"(?s)CronTrigger 'nightly'.*invalid cron expression"
    ):
        CronTrigger(pump.Application(), "every day at noon", id="nightly")


def test_unknown_time_zone_is_a_config_error():
    with pytest.raises(pump.ConfigError, match="unknown time zone 'Mars/Olympus'"):
        cron("* * * * *", timezone="Mars/Olympus")


async def test_cron_trigger_fires_on_the_scheduled_seconds(kit):
    stamps: list[float] = []

    class Stamp(TriggerSource):
        async def cycle(self):
            stamps.append(time.time())
            await self.emit([{"at": stamps[-1]}])

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = Stamp(app, pipeline).on(CronTrigger(app, "* * * * * *"))  # every second
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        deadline = time.monotonic() + 3.5
        while len(stamps) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await app.stop()

    assert len(stamps) >= 2
    # each fire lands just after a whole second, one second apart
    assert all(s % 1 < 0.25 for s in stamps)
    assert 0.75 <= stamps[1] - stamps[0] <= 1.25
    assert len(sink.events) == len(stamps)
