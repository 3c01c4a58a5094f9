"""MySQLSource against a real server: rows streamed in batches, context keys, incremental
mode whose saved position advances only over done rows and survives a restart."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

import pump
from pump.testing import CollectingSink, wait_until
from pump_mysql import MySQLSource
from pump_mysql.position import PositionFile

pytestmark = pytest.mark.service


class Rig:
    """A MySQLSource → CollectingSink pipeline run once (RunOnceTrigger)."""

    def __init__(self, db: Any, config: dict[str, Any]) -> None:
        self.app = pump.Application(exit_when_finished=False)
        db.add_connection(self.app)
        self.pipeline = pump.Pipeline(self.app, "from_mysql")
        self.source = MySQLSource(self.app, self.pipeline, "db", "rows", config=config)
        self.source.on(pump.RunOnceTrigger(self.app))
        self.sink = CollectingSink(self.app, self.pipeline, "out")
        self.pipeline.build(self.source, self.sink)
        self.app.add_pipeline(self.pipeline)

    async def run(self) -> list[tuple[dict[str, Any], Any]]:
        await self.app.start()
        try:
            assert await wait_until(self.source.exhausted, 20.0), "the source did not finish"
            assert await wait_until(lambda: self.pipeline.metrics()["in_flight"] == 0, 10.0)
        finally:
            await self.app.stop(timeout=5.0)
        return self.sink.outputs


async def test_a_query_streams_every_row_in_batches(db: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(20)")
    await db.execute(
        f"INSERT INTO `{table}` VALUES " + ", ".join(f"({i}, 'n{i}')" for i in range(2500))
    )
    rig = Rig(db, {"table": table, "batch_size": 1000})
    outputs = await rig.run()
    assert sorted(e["id"] for _c, e in outputs) == list(range(2500))
    assert {"id": 7, "name": "n7"} in [e for _c, e in outputs]
    assert {c["mysql_table"] for c, _e in outputs} == {table}
    assert rig.source.rows_read == 2500


async def test_a_custom_query(db: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, v INT")
    await db.execute(f"INSERT INTO `{table}` VALUES (1, 10), (2, 20), (3, 30)")
    rig = Rig(db, {"query": f"SELECT id, v * 2 AS twice FROM `{table}` WHERE v > 10 ORDER BY id"})
    outputs = await rig.run()
    assert [e for _c, e in outputs] == [{"id": 2, "twice": 40}, {"id": 3, "twice": 60}]


async def test_incremental_by_id_resumes_after_a_restart_without_repeats_or_gaps(
    db: Any, tmp_path: Any
) -> None:
    table = await db.table("id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20)")
    await db.execute(
        f"INSERT INTO `{table}` (name) VALUES " + ", ".join(f"('a{i}')" for i in range(1500))
    )
    position = str(tmp_path / "rows.pos")
    config = {
        "table": table,
        "incrementing_column": "id",
        "position_file": position,
        "batch_size": 400,
    }
    first = await Rig(db, config).run()
    assert [e["id"] for _c, e in first] == list(range(1, 1501))
    assert first[-1][0]["mysql_position"] == {"id": 1500}
    assert PositionFile(position).load() == {"id": 1500}
    await db.execute(
        f"INSERT INTO `{table}` (name) VALUES " + ", ".join(f"('b{i}')" for i in range(300))
    )
    second = await Rig(db, config).run()  # a new process: the position comes from the file
    assert [e["id"] for _c, e in second] == list(range(1501, 1801))
    third = await Rig(db, config).run()
    assert third == []


async def test_incremental_by_timestamp_and_id(db: Any, tmp_path: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, changed DATETIME(6) NOT NULL")
    t0 = datetime.datetime(2026, 1, 1, 12, 0, 0)
    rows = [(i, t0 + datetime.timedelta(seconds=i // 3)) for i in range(9)]  # 3 rows per second
    await db.execute(
        f"INSERT INTO `{table}` VALUES " + ", ".join(["(%s, %s)"] * len(rows)),
        [v for r in rows for v in r],
    )
    position = str(tmp_path / "ts.pos")
    config = {
        "table": table,
        "incrementing_column": "id",
        "timestamp_column": "changed",
        "position_file": position,
        "batch_size": 4,
    }
    first = await Rig(db, config).run()
    assert [e["id"] for _c, e in first] == list(range(9))
    assert PositionFile(position).load() == {"id": 8, "changed": t0 + datetime.timedelta(seconds=2)}
    # an update moves row 1 past the position; a new row shares the last timestamp
    await db.execute(
        f"UPDATE `{table}` SET changed = %s WHERE id = 1", [t0 + datetime.timedelta(seconds=5)]
    )
    await db.execute(f"INSERT INTO `{table}` VALUES (9, %s)", [t0 + datetime.timedelta(seconds=2)])
    second = await Rig(db, config).run()
    assert [e["id"] for _c, e in second] == [9, 1]


class HeldSink(pump.Sink):
    """A sink whose writes complete when the test says so (futures in `writes`)."""

    def __init__(self, app: pump.Application, pipeline: pump.Pipeline) -> None:
        super().__init__(app, pipeline, "held")
        self.writes: list[asyncio.Future[None]] = []

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.writes.append(future)
        return future


async def test_the_position_advances_only_over_done_batches(db: Any, tmp_path: Any) -> None:
    table = await db.table("id INT PRIMARY KEY")
    await db.execute(f"INSERT INTO `{table}` VALUES " + ", ".join(f"({i})" for i in range(1, 31)))
    position = str(tmp_path / "rows.pos")
    app = pump.Application(exit_when_finished=False)
    db.add_connection(app)
    pipeline = pump.Pipeline(app, "p")
    source = MySQLSource(
        app,
        pipeline,
        "db",
        config={
            "table": table,
            "incrementing_column": "id",
            "position_file": position,
            "batch_size": 10,
        },
    )
    source.on(pump.RunOnceTrigger(app))
    sink = HeldSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: len(sink.writes) == 3, 10.0)
        assert PositionFile(position).load() is None
        sink.writes[1].set_result(None)  # the second finishes first: nothing can be saved yet
        await asyncio.sleep(0.05)
        assert PositionFile(position).load() is None
        sink.writes[0].set_result(None)
        assert await wait_until(lambda: PositionFile(position).load() == {"id": 20}, 5.0)
        sink.writes[2].set_result(None)
        assert await wait_until(lambda: PositionFile(position).load() == {"id": 30}, 5.0)
        assert source.positions_saved == 2
    finally:
        await app.stop(timeout=2.0)
