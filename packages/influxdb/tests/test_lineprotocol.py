"""Line protocol: escaping proven against the servers' own parsers (Hypothesis), times, forms."""

from __future__ import annotations

import datetime
import math
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from pump_influxdb.lineprotocol import (
    Clock,
    LineBuilder,
    LineProtocolError,
    bspump_line,
    escape_field_key,
    escape_measurement,
    escape_tag,
    float_text,
    float_texts,
    int_texts,
    plain_strings,
    point_line,
    quote_string,
    to_timestamp,
)
from pump_influxdb.testing import http

# -- the documented conversions ------------------------------------------------------------


def test_bspump_documented_conversion() -> None:
    line = bspump_line(("collection", "tag1=a,tag2=b", "field=12", 1234567890), 1)
    assert line == "collection,tag1=a,tag2=b field=12 1234567890000000000"


def test_bspump_tuple_without_tags_and_in_seconds_precision() -> None:
    assert bspump_line(("m", "", "v=1", 1.5), 1_000_000) == "m v=1 1500"
    with pytest.raises(LineProtocolError, match=r"4 items|field set"):
        bspump_line(("m", "t=1", 5), 1)


def test_escaping_of_each_part() -> None:
    assert escape_measurement("cpu load,x=y") == "cpu\\ load\\,x=y"
    assert escape_tag("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_field_key('f "x"') == 'f\\ \\"x\\"'
    assert quote_string('say "hi" \\ there') == '"say \\"hi\\" \\\\ there"'
    builder = LineBuilder(measurement="m", tags=["t"], time_key="")
    line = builder.line({"t": "x", "i": 3, "f": 2.0, "b": True, "s": "v", "skip": None}, {})
    assert line.rsplit(" ", 1)[0] == 'm,t=x i=3i,f=2.0,b=true,s="v"'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\nb", "newline"),
        ("ends\\", "backslash at its end"),
        ("a\\,b", "backslash at its end or before"),
        ("", "empty"),
    ],
)
def test_values_line_protocol_cannot_carry_are_refused(value: str, problem: str) -> None:
    with pytest.raises(LineProtocolError, match=problem):
        escape_tag(value)


def test_a_measurement_starting_with_a_hash_is_refused() -> None:
    with pytest.raises(LineProtocolError, match="comment"):
        escape_measurement("#m")


def test_tag_values_of_other_types_are_their_text_never_mixed_up() -> None:
    builder = LineBuilder(measurement="m", tags=["t"], time_key="")
    events = [{"t": v, "f": 1} for v in (1, True, 1.0, "1", None, "")]
    lines, failures = builder.lines(events * 2, [{}] * 12, builder.line)
    assert failures is None
    heads = [line.split(" ")[0] for line in lines if line is not None]
    assert heads == ["m,t=1", "m,t=true", "m,t=1.0", "m,t=1", "m", "m"] * 2


def test_nan_and_infinite_fields_are_left_out_and_none_left_makes_no_point() -> None:
    builder = LineBuilder(measurement="m", time_key="")
    assert builder.line({"a": math.nan, "b": 1.0}, {}).startswith("m b=1.0 ")
    with pytest.raises(LineProtocolError, match="no field"):
        builder.line({"a": math.inf, "b": None}, {})


def test_a_batch_gives_each_event_the_line_of_its_own_and_fails_only_the_bad_ones() -> None:
    """The batch path (floats written a column at a time, the rest in one comprehension) and
    its way around odd events: each line is the per-event builder's, each failure at its
    index, in the batch that met them and in the batches after (taken event by event)."""
    builder = LineBuilder(
        measurement="m",
        tags=["host", "dc"],
        fields=["usage", "count", "temp", "status"],
        time_key="t",
        time_unit="ns",
    )
    good = {"host": "a b", "dc": "x", "usage": 0.1, "count": 3, "temp": 1e-7, "status": "ok"}
    events: list[Any] = [{**good, "t": i} for i in range(12)]
    events[1]["usage"] = math.nan  # left out
    events[2]["temp"] = 5  # an int where the batch has floats: 5i
    events[3]["status"] = 'say "hi"'  # escaped by the per-event path
    del events[4]["count"]  # a missing key: no count field
    events[5] = "m,host=raw f=1 5"  # ready-made line protocol
    events[6]["host"] = "bad\\"  # a tag that cannot be written
    events[7]["usage"] = math.inf
    events[7]["temp"] = None  # no field left ... but count and status are
    events[8]["dc"] = {"nested": "y"}  # a mapping: its items as tags

    def fallback(event: Any, context: Any) -> str:
        return event if isinstance(event, str) else builder.line(event, context)

    for _batch in range(3):  # the comprehension stops at the odd ones; later batches too
        lines, failures = builder.lines(events, [{}] * len(events), fallback)
        assert failures is not None and set(failures) == {6}
        assert "backslash" in str(failures[6])
        expected = [None if i == 6 else fallback(e, {}) for i, e in enumerate(events)]
        assert lines == expected
    assert lines[0] == 'm,dc=x,host=a\\ b usage=0.1,count=3i,temp=1e-7,status="ok" 0'
    assert lines[1] == 'm,dc=x,host=a\\ b count=3i,temp=1e-7,status="ok" 1'
    assert lines[2].startswith("m,dc=x,host=a\\ b usage=0.1,count=3i,temp=5i,")
    assert 'status="say \\"hi\\""' in lines[3]
    assert lines[8].startswith("m,nested=y,host=a\\ b usage=0.1,")
    # a batch of only good events is whole again
    assert builder.lines(events[9:], [{}] * 3, fallback) == (expected[9:], None)
    # odd values that stop nothing (all keys there): the comprehension, then those events
    fresh = LineBuilder(
        measurement="m",
        tags=["host", "dc"],
        fields=["usage", "count", "temp", "status"],
        time_key="t",
        time_unit="ns",
    )
    odd = [events[i] for i in (0, 1, 2, 3, 7, 9)]
    assert fresh.lines(odd, [{}] * 6, fresh.line) == ([fallback(e, {}) for e in odd], None)


def test_floats_are_written_as_the_shortest_text_of_the_same_number() -> None:
    values = [0.1, 1e-7, 1e16, -0.0, 5e-324, 1.7976931348623157e308, 123456.789, 2.5]
    assert float_texts(values) == [float_text(v) for v in values]
    assert [float(text) for text in float_texts(values)] == values
    assert float_texts([1.5, math.nan, 2, True, None, math.inf]) == [
        "1.5",
        None,
        None,
        None,
        None,
        None,
    ]
    assert float_texts([]) == []
    assert plain_strings(["ok", "a b,c=d"]) == ["ok", "a b,c=d"]
    assert plain_strings(["ok", 'say "hi"', "back\\slash", 1, None]) == [
        "ok",
        None,
        None,
        None,
        None,
    ]


def test_ints_are_written_a_column_at_a_time_and_only_ints() -> None:
    values = [0, -5, 2**63 - 1, -(2**63), 123456789]
    assert int_texts(values) == [str(v) for v in values]
    assert int_texts([3, 2**70]) == ["3", str(2**70)]  # beyond 64 bits: value by value
    assert int_texts([1, True, 1.0, "1", None]) == ["1", None, None, None, None]
    assert int_texts([7, -7], multiply=1000) == ["7000", "-7000"]
    assert int_texts([7999, -7001], divide=1000) == ["7", "-8"]  # floor, as the per-event path
    assert int_texts([10**5000]) == [None]  # too long for str(): the per-event path refuses it
    assert int_texts([]) == []


def test_a_tag_set_is_cached_for_str_values_only_and_by_the_whole_tuple() -> None:
    builder = LineBuilder(measurement="m", tags=["a", "b"], fields=["f"], time_key="t")
    events = [
        {"a": "x", "b": "y", "f": 1.0, "t": 1},
        {"a": 1, "b": "y", "f": 1.0, "t": 1},
        {"a": True, "b": "y", "f": 1.0, "t": 1},
        {"a": "x", "b": None, "f": 1.0, "t": 1},
        {"a": "y", "b": "x", "f": 1.0, "t": 1},
        {"a": "x y", "b": "", "f": 1.0, "t": 1},
    ]
    for _batch in range(3):
        lines, failures = builder.lines(events, [{}] * 6, builder.line)
        assert failures is None
        assert [line.split(" f=")[0] for line in lines if line] == [
            "m,a=x,b=y",
            "m,a=1,b=y",
            "m,a=true,b=y",
            "m,a=x",
            "m,a=y,b=x",
            "m,a=x\\ y",
        ]
    assert builder._tag_sets.keys() == {("x", "y"), ("x", None), ("y", "x"), ("x y", "")}


def test_nested_mappings_give_their_items_as_tags_and_fields() -> None:
    builder = LineBuilder(
        measurement_key="measurement",
        tags=["tags"],
        fields=["fields"],
        time_key="time",
        time_unit="ns",
    )
    event = {
        "measurement": "h2o",
        "tags": {"location": "us west", "b": 2},
        "fields": {"level": 1.5, "n": 3},
        "time": 7,
    }
    assert builder.line(event, {}) == "h2o,b=2,location=us\\ west level=1.5,n=3i 7"


@pytest.mark.parametrize(
    ("value", "unit", "precision", "expected"),
    [
        (1_600_000_000, "s", "ns", 1_600_000_000_000_000_000),
        (1_600_000_000_123, "ms", "s", 1_600_000_000),
        (1.5, "s", "ms", 1500),
        ("1600000000", "s", "s", 1_600_000_000),
        ("2020-09-13T12:26:40Z", "s", "s", 1_600_000_000),
        ("2020-09-13T12:26:40.250+00:00", "s", "ms", 1_600_000_000_250),
        (datetime.datetime(2020, 9, 13, 12, 26, 40), "s", "us", 1_600_000_000_000_000),
        (Decimal("1.25"), "s", "ms", 1250),
    ],
)
def test_times_in_every_form(value: Any, unit: str, precision: str, expected: int) -> None:
    from pump_influxdb.lineprotocol import NANOSECONDS

    assert to_timestamp(value, NANOSECONDS[unit], NANOSECONDS[precision]) == expected


def test_points_in_their_own_precision_are_scaled_to_the_sinks() -> None:
    clock = Clock(1)
    ms = Point("p").field("f", 1).time(1_700_000_000_123, WritePrecision.MS)
    assert point_line(ms, "ns", clock) == "p f=1i 1700000000123000000"
    timeless = point_line(Point("p").field("f", 1), "s", Clock(1_000_000_000))
    assert abs(int(timeless.rsplit(" ", 1)[1]) - time.time()) < 5


def test_the_clock_never_gives_the_same_nanosecond_twice() -> None:
    clock = Clock(1)
    stamps = [clock.now() for _ in range(10_000)]
    assert len(set(stamps)) == len(stamps) and stamps == sorted(stamps)


# -- round trips through the servers' parsers ----------------------------------------------------

#: Characters that matter to line protocol, and a few that do not.
SPECIAL = ' ,="\\=#\t'
TEXT = st.text(
    alphabet=st.sampled_from(list(SPECIAL) + list("abcXYZ019_-.:") + ["é", "✓", "日"]),
    min_size=1,
    max_size=12,
)
FIELD_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(alphabet=st.sampled_from(list(SPECIAL) + list("ab\n\r") + ["é", "日"]), max_size=20),
)
RESERVED = {"time", "ex"}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    measurement=TEXT,
    tags=st.dictionaries(TEXT, TEXT, max_size=3),
    fields=st.dictionaries(TEXT, FIELD_VALUES, min_size=1, max_size=3),
    stamp=st.integers(min_value=-(2**62), max_value=2**62),
)
def test_influxdb_parses_back_what_the_builder_wrote(
    influxdb1: Any,
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, Any],
    stamp: int,
) -> None:
    assume(not (set(tags) & set(fields)) and not ((set(tags) | set(fields)) & RESERVED))
    example = uuid.uuid4().hex[:12]
    if measurement.startswith(("#", "\t")):
        measurement = "x" + measurement
    event = {**tags, **fields, "ex": example, "t": stamp}
    try:
        builder = LineBuilder(
            measurement=measurement,
            tags=[*tags, "ex"],
            fields=list(fields),
            time_key="t",
            time_unit="ns",
        )
        line = builder.line(event, {})
        # the batch path (compiled for these value types) builds the very same line
        assert builder.lines([event, event], [{}, {}], builder.line) == ([line, line], None)
    except LineProtocolError:
        # only what the rules refuse: a backslash at the end or before an escaped character,
        # a field key starting with a tab
        assert (
            _uncarriable(measurement, ', ="')
            or any(_uncarriable(t, ",= ") for t in [*tags, *tags.values()])
            or any(_uncarriable(k, ',= "') or k.startswith("\t") for k in fields)
        ), event
        return
    db = influxdb1.create_database(f"pump_prop_{example}")  # no field types from before
    try:
        status, body = http("POST", f"{influxdb1.url}/write?db={db}&precision=n", line.encode())
        assert status == 204, (line, body)
        (point,) = influxdb1.points(db)
    finally:
        influxdb1.drop_database(db)
    assert point["measurement"] == measurement
    assert point["tags"] == {**{k: v for k, v in tags.items()}, "ex": example}, line
    # JSON gives an integral float as an integer: compare floats as floats
    read = {k: float(v) if type(fields.get(k)) is float else v for k, v in point["fields"].items()}
    assert read == fields, line
    assert point["time"] == stamp


def _uncarriable(text: str, specials: str) -> bool:
    return text.endswith("\\") or any(f"\\{c}" in text for c in specials)


NAMES = st.text(
    alphabet=st.sampled_from(list(" ,=#:_-.") + list("abcXYZ09é")), min_size=1, max_size=10
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    measurement=NAMES.filter(lambda s: not s.startswith("#")),
    tags=st.dictionaries(NAMES, NAMES, max_size=3),
    field=NAMES,
    value=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_victoria_metrics_parses_back_what_the_builder_wrote(
    victoria: Any, measurement: str, tags: dict[str, str], field: str, value: float
) -> None:
    """The v2 write path's server: names without backslashes or quotes (VictoriaMetrics reads
    those differently from InfluxDB), numeric fields (it keeps no strings)."""
    assume(field not in tags and not (set(tags) & {"ex", "__name__", "db"}))
    example = uuid.uuid4().hex[:12]
    stamp_ms = int(time.time() * 1000) - 60_000
    builder = LineBuilder(
        measurement=measurement,
        tags=[*tags, "ex"],
        fields=[field],
        time_key="t",
        time_unit="ms",
        precision="ms",
    )
    line = builder.line({**tags, field: value, "ex": example, "t": stamp_ms}, {})
    status, body = http(
        "POST", f"{victoria.url}/api/v2/write?org=o&bucket=b&precision=ms", line.encode()
    )
    assert status == 204, (line, body)
    (sample,) = victoria.samples(f'{{ex="{example}"}}')
    labels, stored, stored_ms = sample
    assert labels == {"__name__": f"{measurement}_{field}", **tags, "ex": example}, line
    # VictoriaMetrics keeps values as decimals of about 15 digits
    assert math.isclose(float(stored), value, rel_tol=1e-12, abs_tol=1e-300)
    assert stored_ms == stamp_ms
