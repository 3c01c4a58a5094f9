"""MySQLBinlogSource against a private MariaDB with the binary log on: inserts, updates and
deletes in commit order with before/after images; a restart resumes without a gap or a repeat."""

from __future__ import annotations

from typing import Any

import aiomysql
import pytest

import pump
from pump.testing import CollectingSink, wait_until
from pump_mysql import MySQLBinlogSource, MySQLConnection, MySQLError
from pump_mysql.position import PositionFile

pytestmark = pytest.mark.service


async def sql(server: dict[str, Any], *statements: str) -> None:
    conn = await aiomysql.connect(
        host=server["host"], port=server["port"], user="root", autocommit=True
    )
    try:
        async with conn.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        conn.close()


class Reader:
    """A running pipeline: MySQLBinlogSource → CollectingSink."""

    def __init__(self, server: dict[str, Any], position_file: str, **config: Any) -> None:
        self.app = pump.Application(exit_when_finished=False)
        self.app.add_connection(MySQLConnection(self.app, "db", config=server))
        self.pipeline = pump.Pipeline(self.app, "cdc")
        self.source = MySQLBinlogSource(
            self.app,
            self.pipeline,
            "db",
            config={
                "position_file": position_file,
                "only_schemas": ["cdc"],
                **config,
            },
        )
        self.sink = CollectingSink(self.app, self.pipeline, "out")
        self.pipeline.build(self.source, self.sink)
        self.app.add_pipeline(self.pipeline)

    async def collect(self, count: int) -> list[tuple[dict[str, Any], Any]]:
        assert await wait_until(lambda: len(self.sink.outputs) >= count, 20.0), self.sink.outputs
        return self.sink.outputs


@pytest.fixture
async def cdc(binlog_server: dict[str, Any]) -> dict[str, Any]:
    await sql(
        binlog_server,
        "DROP DATABASE IF EXISTS cdc",
        "CREATE DATABASE cdc",
        "CREATE TABLE cdc.items (id INT PRIMARY KEY, name VARCHAR(20))",
    )
    return binlog_server


async def test_changes_arrive_in_commit_order_with_before_and_after(
    cdc: dict[str, Any], tmp_path: Any
) -> None:
    reader = Reader(cdc, str(tmp_path / "binlog.pos"))
    await reader.app.start()
    try:
        await sql(
            cdc,
            "INSERT INTO cdc.items VALUES (1, 'a'), (2, 'b')",
            "UPDATE cdc.items SET name = 'c' WHERE id = 1",
            "DELETE FROM cdc.items WHERE id = 2",
        )
        outputs = await reader.collect(4)
        assert [e for _c, e in outputs] == [
            {
                "type": "insert",
                "schema": "cdc",
                "table": "items",
                "before": None,
                "after": {"id": 1, "name": "a"},
            },
            {
                "type": "insert",
                "schema": "cdc",
                "table": "items",
                "before": None,
                "after": {"id": 2, "name": "b"},
            },
            {
                "type": "update",
                "schema": "cdc",
                "table": "items",
                "before": {"id": 1, "name": "a"},
                "after": {"id": 1, "name": "c"},
            },
            {
                "type": "delete",
                "schema": "cdc",
                "table": "items",
                "before": {"id": 2, "name": "b"},
                "after": None,
            },
        ]
        context = outputs[2][0]
        assert context["mysql_schema"] == "cdc" and context["mysql_table"] == "items"
        assert (
            context["mysql_binlog_file"].startswith("bin.") and context["mysql_binlog_position"] > 0
        )
        assert context["mysql_gtid"]  # MariaDB: domain-server-sequence
        assert await wait_until(lambda: reader.source.positions_saved >= 3, 5.0)
    finally:
        await reader.app.stop(timeout=5.0)


async def test_a_restart_resumes_from_the_saved_position_without_gap_or_repeat(
    cdc: dict[str, Any], tmp_path: Any
) -> None:
    position = str(tmp_path / "binlog.pos")
    first = Reader(cdc, position)
    await first.app.start()
    try:
        await sql(cdc, *[f"INSERT INTO cdc.items VALUES ({i}, 'first')" for i in range(5)])
        await first.collect(5)
        assert await wait_until(lambda: first.source.positions_saved >= 5, 5.0)
    finally:
        await first.app.stop(timeout=5.0)
    saved = PositionFile(position).load()
    assert saved is not None and saved["file"].startswith("bin.")
    # changes made while no reader runs
    await sql(
        cdc,
        *[f"INSERT INTO cdc.items VALUES ({i}, 'second')" for i in range(5, 8)],
        "DELETE FROM cdc.items WHERE id = 0",
    )
    second = Reader(cdc, position)
    await second.app.start()
    try:
        outputs = await second.collect(4)
        await sql(cdc, "UPDATE cdc.items SET name = 'live' WHERE id = 7")
        outputs = await second.collect(5)
    finally:
        await second.app.stop(timeout=5.0)
    got = [(e["type"], (e["after"] or e["before"])["id"]) for _c, e in outputs]
    assert got == [("insert", 5), ("insert", 6), ("insert", 7), ("delete", 0), ("update", 7)]


async def test_a_server_without_a_binary_log_is_named(
    db: Any, mysql_settings: dict[str, Any], tmp_path: Any
) -> None:
    rows = await db.rows("SELECT @@log_bin AS log_bin")
    if rows[0]["log_bin"]:
        pytest.skip("the shared server has its binary log on")
    app = pump.Application()
    connection = db.add_connection(app)
    source = MySQLBinlogSource(
        app, pump.Pipeline(app, "p"), "db", config={"position_file": str(tmp_path / "p.pos")}
    )
    await connection.start()
    try:
        with pytest.raises(MySQLError, match="the binary log is off"):
            await source.start()
    finally:
        await connection.stop()
