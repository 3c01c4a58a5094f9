"""Against InfluxDB 2.x itself, when one is given: `PUMP_INFLUXDB_URL` and `PUMP_INFLUXDB_TOKEN`.

`docker compose up -d --wait` starts one (InfluxDB 2.7, org and bucket `pump`) and
`nox -s integration` sets the variables. No package of InfluxDB 2 can be installed on the
machines these tests usually run on (the v2 write path is tested against VictoriaMetrics
there), so without the variables these tests are skipped, even under PUMP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest

import pump
from pump.testing import BatchRecord, CollectingSink, wait_until
from pump_influxdb import InfluxDBConnection, InfluxDBSource

URL = os.environ.get("PUMP_INFLUXDB_URL", "")
TOKEN = os.environ.get("PUMP_INFLUXDB_TOKEN", "")
ORG = os.environ.get("PUMP_INFLUXDB_ORG", "pump")
BUCKET = os.environ.get("PUMP_INFLUXDB_BUCKET", "pump")

pytestmark = pytest.mark.skipif(
    not (URL and TOKEN), reason="no InfluxDB 2 given (PUMP_INFLUXDB_URL, PUMP_INFLUXDB_TOKEN)"
)


def connection_config(**overrides: Any) -> dict[str, Any]:
    return {
        "url": URL,
        "org": ORG,
        "bucket": BUCKET,
        "token": TOKEN,
        "reconnect_delay": 0.02,
        "reconnect_delay_max": 0.2,
        **overrides,
    }


def flux_rows(measurement: str) -> list[dict[str, Any]]:
    """Every record of the measurement, one per field value, through Flux."""
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(url=URL, token=TOKEN, org=ORG) as client:
        tables = client.query_api().query(
            f'from(bucket: "{BUCKET}") |> range(start: 0) '
            f'|> filter(fn: (r) => r._measurement == "{measurement}")'
        )
        return [record.values for table in tables for record in table.records]


async def test_auto_finds_the_v2_api_and_a_round_trip(sink_run: Any) -> None:
    measurement = f"m{uuid.uuid4().hex[:10]}"
    now = int(time.time()) - 60
    run = sink_run(
        connection_config(api="auto"),
        {"measurement": measurement, "tags": ["host"], "precision": "s"},
    )
    run.feed([{"host": f"h{i % 3}", "v": i, "s": f"x{i}", "time": now - i} for i in range(100)])
    await run.run()
    assert run.connection.api == "v2" and run.connection.server_version.lstrip("v")[:1] == "2"
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    rows = flux_rows(measurement)
    values = {
        (r["host"], int(r["_time"].timestamp())): r["_value"] for r in rows if r["_field"] == "v"
    }
    assert values == {(f"h{i % 3}", now - i): i for i in range(100)}


async def test_a_conflicting_point_is_isolated_on_influxdb_2(sink_run: Any) -> None:
    measurement = f"m{uuid.uuid4().hex[:10]}"
    now = int(time.time()) - 60
    events: list[dict[str, Any]] = [{"v": float(i), "time": now - i} for i in range(500)]
    events[123] = {"v": "text", "time": now - 123}
    run = sink_run(
        connection_config(),
        {"measurement": measurement, "precision": "s", "batch_max_points": 500},
        batch_size=500,
    )
    run.feed(events)
    await run.run()
    assert [d["event"] for d in run.dead_letters()] == [events[123]]
    assert len([r for r in flux_rows(measurement) if r["_field"] == "v"]) == 499


async def test_the_flux_source_reads_what_was_written(sink_run: Any) -> None:
    measurement = f"m{uuid.uuid4().hex[:10]}"
    now = int(time.time()) - 60
    run = sink_run(connection_config(), {"measurement": measurement, "precision": "s"})
    run.feed([{"v": float(i), "time": now - i} for i in range(20)])
    await run.run()
    app = pump.Application(exit_when_finished=False)
    app.add_connection(InfluxDBConnection(app, "influx", config=connection_config()))
    pipeline = pump.Pipeline(app, "from_influx", config={"on_error": "stop"})
    source = InfluxDBSource(
        app,
        pipeline,
        "influx",
        config={
            "flux": f'from(bucket: "{BUCKET}") |> range(start: 0) '
            f'|> filter(fn: (r) => r._measurement == "{measurement}")',
            "batch_size": 7,
        },
    )
    source.on(pump.RunOnceTrigger(app))
    sink = CollectingSink(app, pipeline, "out")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: len(sink.events) >= 20, 20.0)
    finally:
        await app.stop(timeout=5.0)
    assert sorted(e["_value"] for e in sink.events) == [float(i) for i in range(20)]
