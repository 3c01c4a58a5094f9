"""TimeZoneNormalizer: naive times read in a zone, aware ones converted, all to UTC."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pump import Application, ConfigError, Pipeline
from pump.common import TimeZoneNormalizer

UTC = datetime.UTC


def make(config: dict[str, Any]) -> TimeZoneNormalizer:
    app = Application()
    return TimeZoneNormalizer(app, Pipeline(app, "p"), "tz", config=config)


def test_normalize_naive_time_in_the_configured_zone() -> None:
    prague = make({"timezone": "Europe/Prague", "fields": ["t"]})
    winter = prague.normalize(datetime.datetime(2024, 1, 15, 12, 0))
    summer = prague.normalize(datetime.datetime(2024, 7, 15, 12, 0))
    assert winter == datetime.datetime(2024, 1, 15, 11, 0, tzinfo=UTC)
    assert summer == datetime.datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    assert winter.tzinfo is UTC


def test_normalize_aware_time_ignores_the_configured_zone() -> None:
    prague = make({"timezone": "Europe/Prague", "fields": ["t"]})
    new_york = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert prague.normalize(new_york) == datetime.datetime(2024, 1, 15, 17, 0, tzinfo=UTC)


def test_ambiguous_time_at_the_dst_change_is_the_earlier_instant() -> None:
    prague = make({"timezone": "Europe/Prague", "fields": ["t"]})
    # 02:30 on 2024-10-27 happens twice in Prague; fold=0 is the first (still CEST, UTC+2).
    assert prague.normalize(datetime.datetime(2024, 10, 27, 2, 30)) == datetime.datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC
    )


async def test_processor_normalizes_the_configured_fields(run: Any) -> None:
    naive = datetime.datetime(2024, 1, 15, 12, 0)
    event = {"start": naive, "end": None, "other": naive}
    r = await run(
        [event, {"unrelated": 1}],
        lambda app, p: TimeZoneNormalizer(
            app, p, config={"timezone": "Europe/Prague", "fields": ["start", "end", "missing"]}
        ),
    )
    assert r.events == [
        {"start": datetime.datetime(2024, 1, 15, 11, 0, tzinfo=UTC), "end": None, "other": naive},
        {"unrelated": 1},
    ]


def test_default_zone_is_utc() -> None:
    normalizer = make({"fields": ["t"]})
    assert normalizer.process({}, {"t": datetime.datetime(2024, 1, 1)}) == {
        "t": datetime.datetime(2024, 1, 1, tzinfo=UTC)
    }


def test_non_datetime_value_is_an_error_naming_the_component_and_field() -> None:
    with pytest.raises(TypeError, match=r"component 'tz'.*field 't' is str, not a datetime"):
        make({"fields": ["t"]}).process({}, {"t": "2024-01-01"})


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        make({"timezone": "Mars/Olympus", "fields": ["t"]})
    with pytest.raises(ConfigError, match="fields"):
        make({})


def test_bspump_style_subclass_needs_no_fields() -> None:
    class Stamp(TimeZoneNormalizer):
        def process(self, context: dict[str, Any], event: Any) -> Any:
            event["@timestamp"] = self.normalize(event["@timestamp"])
            return event

    app = Application()
    stamp = Stamp(app, Pipeline(app, "p"), config={"timezone": "Asia/Tokyo"})
    out = stamp.process({}, {"@timestamp": datetime.datetime(2024, 1, 1, 9, 0)})
    assert out == {"@timestamp": datetime.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)}
