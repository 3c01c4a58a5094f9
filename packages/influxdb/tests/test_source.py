"""InfluxDBSource against InfluxDB 1.x: rows as events, chunks, incremental positions, restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pump
from pump.testing import CollectingSink, wait_until
from pump_influxdb import InfluxDBConnection, InfluxDBQueryError, InfluxDBSource


class SourceRun:
    """An application: InfluxDBSource (periodic trigger) → collecting sink."""

    def __init__(
        self, db: Any, config: dict[str, Any], interval: float = 0.05, once: bool = False
    ) -> None:
        self.app = pump.Application(exit_when_finished=False)
        self.app.add_connection(
            InfluxDBConnection(self.app, "influx", config=db.connection_config())
        )
        self.pipeline = pump.Pipeline(self.app, "from_influx", config={"on_error": "stop"})
        self.source = InfluxDBSource(self.app, self.pipeline, "influx", "in", config=config)
        trigger = (
            pump.RunOnceTrigger(self.app) if once else pump.PeriodicTrigger(self.app, interval)
        )
        self.source.on(trigger)
        self.sink = CollectingSink(self.app, self.pipeline, "out")
        self.pipeline.build(self.source, self.sink)
        self.app.add_pipeline(self.pipeline)

    async def collect(self, count: int, timeout: float = 20.0) -> list[Any]:
        await self.app.start()
        try:
            assert await wait_until(lambda: len(self.sink.events) >= count, timeout), (
                f"{len(self.sink.events)} of {count} rows; errors "
                f"{[e.as_dict()['error'] for e in self.pipeline.errors]}"
            )
            await wait_until(lambda: self.pipeline.in_flight == 0, 5.0)
        finally:
            await self.app.stop(timeout=5.0)
        return list(self.sink.events)


def _write_cpu(db: Any, n: int, start: int = 1_600_000_000) -> None:
    lines = [
        f"cpu,host=h{i % 3},dc=d{i % 2} usage={i / 2},n={i}i {(start + i) * 1_000_000_000}"
        for i in range(n)
    ]
    db.write("\n".join(lines))


async def test_rows_become_events_with_their_tags_and_time(db: Any) -> None:
    _write_cpu(db, 10)
    run = SourceRun(
        db, {"query": "SELECT * FROM cpu GROUP BY *", "measurement_key": "m"}, once=True
    )
    events = await run.collect(10)
    assert sorted(events, key=lambda e: e["time"]) == [
        {
            "time": (1_600_000_000 + i) * 1_000_000_000,
            "usage": i / 2,
            "n": i,
            "host": f"h{i % 3}",
            "dc": f"d{i % 2}",
            "m": "cpu",
        }
        for i in range(10)
    ]
    contexts = run.sink.contexts
    assert {c["influxdb_measurement"] for c in contexts} == {"cpu"}
    assert {tuple(sorted(c["influxdb_tags"])) for c in contexts} == {("dc", "host")}


async def test_a_large_answer_comes_in_chunks_of_batch_size(db: Any) -> None:
    _write_cpu(db, 2500)
    run = SourceRun(
        db, {"query": "SELECT usage FROM cpu", "batch_size": 300, "epoch": "s"}, once=True
    )
    events = await run.collect(2500)
    assert [e["time"] for e in events] == [1_600_000_000 + i for i in range(2500)]
    assert run.source.rows_read == 2500
    assert run.pipeline.metrics()["events_in"] == 2500


async def test_incremental_mode_reads_each_row_once_across_cycles_and_a_restart(
    db: Any, tmp_path: Path
) -> None:
    position = tmp_path / "cpu.pos"
    config = {
        "query": "SELECT * FROM cpu WHERE time > $after AND time <= $until",
        "position_file": str(position),
        "time_delay": 0,
        "batch_size": 100,
    }
    _write_cpu(db, 250)
    first = SourceRun(db, config)
    got = await first.collect(250)
    assert sorted(e["n"] for e in got) == list(range(250))
    saved = json.loads(position.read_text())["after"]
    assert saved >= (1_600_000_000 + 249) * 1_000_000_000
    assert first.source.positions_saved >= 1
    # more rows after the position, then a new process of the same source: only the new ones
    db.write("\n".join(f"cpu,host=new usage=1,n={1000 + i}i {saved + 1 + i}" for i in range(40)))
    second = SourceRun(db, config)
    got = await second.collect(40)
    await_more = [e["n"] for e in got]
    assert sorted(await_more) == [1000 + i for i in range(40)]


async def test_the_position_moves_inside_a_cycle_for_rows_in_time_order(
    db: Any, tmp_path: Path
) -> None:
    """A restart after a crash mid-cycle reads again from the last done chunk, not the start."""
    position = tmp_path / "p.pos"
    _write_cpu(db, 1000)
    config = {
        "query": "SELECT usage FROM cpu WHERE time > $after AND time <= $until",
        "position_file": str(position),
        "time_delay": 0,
        "batch_size": 100,
    }
    run = SourceRun(db, config, once=True)
    await run.collect(1000)
    # ten chunks, ten positions saved as each chunk was done (the cycle's end saves `until`)
    assert run.source.positions_saved >= 10


async def test_a_corrupt_position_file_stops_the_source_naming_it(db: Any, tmp_path: Path) -> None:
    position = tmp_path / "bad.pos"
    position.write_text("{not json")
    run = SourceRun(
        db,
        {
            "query": "SELECT * FROM cpu WHERE time > $after AND time <= $until",
            "position_file": str(position),
        },
    )
    with pytest.raises(Exception, match="key 'position_file': cannot read the saved position"):
        await run.app.start()
    await run.app.stop(timeout=1.0)


async def test_a_query_the_server_refuses_names_its_error(db: Any) -> None:
    run = SourceRun(db, {"query": "SELEKT nonsense", "on_cycle_error": "stop"}, once=True)
    await run.app.start()
    try:
        assert await wait_until(run.pipeline.is_error, 10.0)
    finally:
        await run.app.stop(timeout=2.0)
    (error,) = run.pipeline.errors
    text = str(error.as_dict()["error"])
    assert "query failed" in text or "refused" in text
    assert "SELEKT" in text or "syntax" in text or "expected" in text


async def test_flux_against_a_server_without_flux_says_so(db: Any) -> None:
    run = SourceRun(
        db, {"flux": 'from(bucket: "x") |> range(start: -1h)', "on_cycle_error": "stop"}, once=True
    )
    await run.app.start()
    try:
        assert await wait_until(run.pipeline.is_error, 10.0)
    finally:
        await run.app.stop(timeout=2.0)
    text = str(run.pipeline.errors[0].as_dict()["error"])
    assert "has no Flux API (404 on /api/v2/query)" in text


def test_query_errors_are_query_errors() -> None:
    assert issubclass(InfluxDBQueryError, pump.PumpError)
