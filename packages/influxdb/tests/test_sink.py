"""InfluxDBSink on real servers: what is written, per-event failures, refused points isolated."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from influxdb_client import Point, WritePrecision

from pump.testing import BatchRecord

from .conftest import victoria_config

NOW_S = int(time.time()) - 3600  # recent: VictoriaMetrics keeps what its retention allows


async def test_round_trip_through_the_v1_api(db: Any, sink_run: Any) -> None:
    events = [
        {
            "host": f"h{i % 3}",
            "region": "eu west",
            "usage": i / 4,
            "count": i,
            "ok": i % 2 == 0,
            "note": f'say "hi" {i}',
            "time": NOW_S + i,
        }
        for i in range(250)
    ]
    run = sink_run(
        db.connection_config(),
        {"measurement": "cpu load", "tags": ["host", "region"], "precision": "s"},
        batch_size=40,
    )
    run.feed(events)
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    points = sorted(db.points(), key=lambda p: p["time"])
    assert len(points) == 250
    for event, point in zip(events, points, strict=True):
        assert point["measurement"] == "cpu load"
        assert point["tags"] == {"host": event["host"], "region": "eu west"}
        assert point["fields"] == {
            "usage": event["usage"],
            "count": event["count"],
            "ok": event["ok"],
            "note": event["note"],
        }
        assert point["time"] == event["time"] * 1_000_000_000
    assert run.sink.points_written == 250
    assert run.connection.api == "v1"


async def test_round_trip_through_the_v2_api(victoria: Any, sink_run: Any) -> None:
    measurement = f"m{time.time_ns()}"
    events = [
        {"host": f"h{i % 4}", "dc": "a,b=c", "value": i * 1.5, "n": i, "time": (NOW_S + i) * 1000}
        for i in range(300)
    ]
    run = sink_run(
        victoria_config(victoria),
        {
            "measurement": measurement,
            "tags": ["host", "dc"],
            "time_unit": "ms",
            "precision": "ms",
            "batch_max_points": 64,
        },
        batch_size=50,
    )
    run.feed(events)
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    assert run.connection.api == "v2"
    value = {
        (s[0]["host"], s[2]): s[1] for s in victoria.samples(f'{{__name__="{measurement}_value"}}')
    }
    n = {(s[0]["host"], s[2]): s[1] for s in victoria.samples(f'{{__name__="{measurement}_n"}}')}
    labels = victoria.samples(f'{{__name__="{measurement}_value"}}')[0][0]
    assert labels["dc"] == "a,b=c"
    assert value == {(e["host"], e["time"]): e["value"] for e in events}
    assert n == {(e["host"], e["time"]): float(e["n"]) for e in events}
    assert run.sink.requests >= 300 // 64


async def test_bspump_tuples_lines_and_points(db: Any, sink_run: Any) -> None:
    stamp = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    events = [
        ("collection", "tag1=a,tag2=b", "field=12", 1234567890),
        "raw,t=x v=1i 1500000000000000000",
        b"raw,t=y v=2i 1500000000000000000\n",
        Point("pt").tag("k", "v").field("f", 0.5).time(stamp),
        Point("pt").tag("k", "w").field("f", 1.5).time(1_700_000_000_000, WritePrecision.MS),
    ]
    run = sink_run(db.connection_config(), {})
    run.feed(events)
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    got = {
        (p["measurement"], tuple(sorted(p["tags"].items())), p["time"]): p["fields"]
        for p in db.points()
    }
    assert got == {
        ("collection", (("tag1", "a"), ("tag2", "b")), 1234567890000000000): {"field": 12.0},
        ("raw", (("t", "x"),), 1500000000000000000): {"v": 1},
        ("raw", (("t", "y"),), 1500000000000000000): {"v": 2},
        ("pt", (("k", "v"),), 1714564800000000000): {"f": 0.5},
        ("pt", (("k", "w"),), 1700000000000000000): {"f": 1.5},
    }


async def test_context_keys_name_the_measurement_tags_and_time(db: Any, sink_run: Any) -> None:
    run = sink_run(
        db.connection_config(),
        {
            "measurement_key": "context.topic",
            "tags": {"partition": "context.partition", "host": "host"},
            "fields": ["v"],
            "time_key": "context.timestamp",
            "time_unit": "ms",
        },
    )
    run.feed(
        [{"host": "a", "v": 1.0, "ignored": "x"}, {"host": "b", "v": 2.0}],
        [
            {"topic": "metrics", "partition": 3, "timestamp": 1_600_000_000_000},
            {"topic": "metrics", "partition": 4, "timestamp": 1_600_000_000_001},
        ],
    )
    await run.run()
    points = sorted(db.points(), key=lambda p: p["time"])
    assert [(p["measurement"], p["tags"], p["fields"], p["time"]) for p in points] == [
        ("metrics", {"host": "a", "partition": "3"}, {"v": 1.0}, 1_600_000_000_000_000_000),
        ("metrics", {"host": "b", "partition": "4"}, {"v": 2.0}, 1_600_000_000_001_000_000),
    ]


async def test_events_without_a_time_get_distinct_times_of_writing(db: Any, sink_run: Any) -> None:
    before = time.time_ns()
    run = sink_run(db.connection_config(), {"measurement": "m", "tags": ["k"]})
    run.feed([{"k": "same", "v": i} for i in range(500)])
    await run.run()
    points = db.points()
    assert len(points) == 500, "points of one series without a time must not overwrite each other"
    assert all(before <= p["time"] <= time.time_ns() for p in points)


async def test_events_that_cannot_be_points_go_to_the_error_policy(db: Any, sink_run: Any) -> None:
    run = sink_run(db.connection_config(), {"measurement": "m", "tags": ["k"]}, batch_size=10)
    good = [{"k": "a", "v": i, "time": 1_600_000_000 + i} for i in range(5)]
    bad: list[Any] = [
        {"k": "a"},  # no field
        {"k": "ends with \\", "v": 1},  # cannot be carried
        {"k": "a", "v": [1, 2]},  # not a field type
        {"k": "a", "v": 1, "time": "yesterday"},  # not a time
        12345,  # not an event the sink knows
    ]
    run.feed(good + bad)
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    assert len(db.points()) == 5
    dead = run.dead_letters()
    assert [d["event"] for d in dead] == [bad[0], bad[1], bad[2], bad[3], bad[4]]
    errors = [d["error"] for d in dead]
    assert "no field to write" in errors[0]
    assert "backslash at its end" in errors[1] and "tag 'k'" in errors[1]
    assert "field 'v'" in errors[2] and "list" in errors[2]
    assert "'time'" in errors[3] and "ISO 8601" in errors[3]
    assert "cannot write a int as a point" in errors[4]
    assert all("component 'out' (InfluxDBSink)" in e for e in errors)


async def test_one_conflicting_point_in_5000_is_isolated_and_the_rest_stored(
    db: Any, sink_run: Any
) -> None:
    db.write("load,host=h value=1.5 1")  # `value` is a float field from now on
    events: list[dict[str, Any]] = [
        {"host": f"h{i % 10}", "value": i + 0.5, "time": 1_600_000_000 + i} for i in range(5000)
    ]
    events[3217] = {"host": "bad", "value": "a string", "time": 1_600_003_217}
    run = sink_run(
        db.connection_config(),
        {"measurement": "load", "tags": ["host"], "batch_max_points": 5000},
        batch_size=1000,
    )
    run.feed(events)
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    dead = run.dead_letters()
    assert [d["event"] for d in dead] == [events[3217]]
    assert "field type conflict" in dead[0]["error"] and "400" in dead[0]["error"]
    assert db.server.count(db.name, "load", "value") == 5000  # 4999 + the one written first
    assert run.sink.points_rejected == 1
    assert run.sink.isolations == 1


async def test_a_refused_point_is_a_permanent_failure_with_the_server_words(
    db: Any, sink_run: Any
) -> None:
    db.write("t,host=h f=1i 1")
    run = sink_run(db.connection_config(), {"measurement": "t", "tags": ["host"]}, on_error="stop")
    run.feed([{"host": "h", "f": "text", "time": 5}])
    await run.run()
    assert run.statuses() == {BatchRecord.REJECTED}
    (error,) = run.pipeline.errors
    assert "PointRejected" in error.as_dict()["error"] or "refused the point" in str(
        error.as_dict()
    )
    assert run.sink.points_rejected == 1


async def test_unparseable_ready_made_lines_are_isolated_by_the_server_quote(
    db: Any, sink_run: Any
) -> None:
    lines = [f"ok,n={i} v={i} {1_600_000_000_000_000_000 + i}" for i in range(200)]
    lines[17] = "this is not line protocol"
    lines[150] = "neither,is this"
    run = sink_run(db.connection_config(), {"batch_max_points": 200}, batch_size=200)
    run.feed(lines)
    await run.run()
    dead = run.dead_letters()
    assert sorted(d["event"] for d in dead) == sorted([lines[17], lines[150]])
    assert all("unable to parse" in d["error"] for d in dead)
    assert len(db.points("ok")) == 198


async def test_gzip_bodies_are_accepted(db: Any, sink_run: Any) -> None:
    run = sink_run(db.connection_config(gzip=True, gzip_level=6), {"measurement": "z"})
    run.feed([{"v": i, "time": 1_600_000_000 + i} for i in range(1000)])
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    assert len(db.points("z")) == 1000


async def test_requests_are_split_by_points_and_bytes(db: Any, sink_run: Any) -> None:
    run = sink_run(
        db.connection_config(),
        {"measurement": "s", "batch_max_points": 100, "batch_max_bytes": 2000},
        batch_size=500,
    )
    run.feed([{"text": "x" * 100, "time": 1_600_000_000 + i} for i in range(500)])
    await run.run()
    assert len(db.points("s")) == 500
    # ~120 characters a line: at most 16 lines a request
    assert run.sink.requests >= 500 // 16


@pytest.mark.parametrize("integers", ["integer", "float"])
async def test_integers_as_integer_or_float_fields(db: Any, sink_run: Any, integers: str) -> None:
    run = sink_run(db.connection_config(), {"measurement": "i", "integers": integers})
    run.feed([{"n": 7, "time": 1}])
    await run.run()
    (point,) = db.points("i")
    assert point["fields"]["n"] == 7 and type(point["fields"]["n"]) is int
    # InfluxDB answers JSON numbers; the type shows in the schema
    fields = db.server.series(db.name, 'SHOW FIELD KEYS FROM "i"')[0]["values"]
    assert fields == [["n", "integer" if integers == "integer" else "float"]]
