"""Pipelines through MySQL: a round trip file → MySQLSink → table → MySQLSource → file, and a
`pump run` killed with SIGKILL mid-stream then restarted: every row exactly once (upsert).

Real server: $PUMP_MYSQL_URL, or MariaDB on 127.0.0.1:3306 (root, database `test`). Without
one the test is skipped, or fails under PUMP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiomysql
import orjson
import pytest

import pump
from pump.testing import service_address
from pump_file import FileJSONLinesSink, FileJSONLinesSource
from pump_mysql import MySQLConnection, MySQLSink, MySQLSource
from pump_mysql.testing import LOCAL_URL, URL_ENV, settings_from_url

pytestmark = pytest.mark.service

ROWS = 3_000


def _settings() -> dict[str, Any]:
    return settings_from_url(service_address("mysql", URL_ENV, LOCAL_URL))


async def _sql(settings: dict[str, Any], sql: str) -> Any:
    conn = await aiomysql.connect(
        host=settings["host"],
        port=settings["port"],
        user=settings["user"],
        password=settings["password"],
        db=settings["database"],
        autocommit=True,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(sql)
            return await cursor.fetchall()
    finally:
        conn.close()


async def _run(settings: dict[str, Any], source: Any, sink: Any) -> None:
    app = pump.Application()
    app.add_connection(MySQLConnection(app, "db", config=settings))
    pipeline = pump.Pipeline(app, "copy")
    pipeline.build(source(app, pipeline), sink(app, pipeline))
    app.add_pipeline(pipeline)
    assert await app.main() == 0


async def test_file_to_table_to_file(tmp_path: Path) -> None:
    settings = _settings()
    table = f"pump_round_trip_{uuid.uuid4().hex[:10]}"
    events = [{"id": i + 1, "name": f"ž-{i}", "amount": i * 3} for i in range(ROWS)]
    given = tmp_path / "in.jsonl"
    given.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    back = tmp_path / "out.jsonl"
    await _sql(
        settings, f"CREATE TABLE `{table}` (id INT PRIMARY KEY, name VARCHAR(20), amount INT)"
    )
    try:
        await _run(
            settings,
            lambda app, p: FileJSONLinesSource(app, p, config={"path": str(given), "post": "noop"}),
            lambda app, p: MySQLSink(app, p, "db", config={"table": table}),
        )

        def reader(app: pump.Application, p: pump.Pipeline) -> MySQLSource:
            source = MySQLSource(
                app,
                p,
                "db",
                config={
                    "table": table,
                    "incrementing_column": "id",
                    "position_file": str(tmp_path / "table.pos"),
                    "batch_size": 500,
                },
            )
            return source.on(pump.RunOnceTrigger(app))  # type: ignore[return-value]

        await _run(
            settings, reader, lambda app, p: FileJSONLinesSink(app, p, config={"path": str(back)})
        )
    finally:
        await _sql(settings, f"DROP TABLE IF EXISTS `{table}`")
    assert [orjson.loads(line) for line in back.read_bytes().splitlines()] == events


PIPELINE = """
connections:
  db:
    type: mysql
    host: "${DB_HOST}"
    port: "${DB_PORT}"
    user: "${DB_USER}"
    password: "${DB_PASSWORD:-}"
    database: "${DB_NAME}"
pipelines:
  load:
    source: {type: file.jsonl, path: "${INPUT}", post: noop}
    sink: {type: mysql, connection: db, table: "${TABLE}", mode: upsert}
"""
KILLED_ROWS = 150_000


def _pump_run(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cli = [sys.executable, "-c", "import sys; from pump.cli import main; sys.exit(main())"]
    return subprocess.Popen(
        [*cli, "run", str(path), "--progress", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )


async def test_sigkill_of_pump_run_then_a_restart_writes_every_row_exactly_once(
    tmp_path: Path,
) -> None:
    settings = _settings()
    table = f"pump_killed_{uuid.uuid4().hex[:10]}"
    given = tmp_path / "in.jsonl"
    given.write_bytes(b"".join(b'{"id": %d, "n": %d}\n' % (i, i * 2) for i in range(KILLED_ROWS)))
    path = tmp_path / "load.yaml"
    path.write_text(PIPELINE)
    env = {
        "DB_HOST": settings["host"],
        "DB_PORT": str(settings["port"]),
        "DB_USER": settings["user"],
        "DB_PASSWORD": settings["password"],
        "DB_NAME": settings["database"],
        "INPUT": str(given),
        "TABLE": table,
    }
    await _sql(settings, f"CREATE TABLE `{table}` (id INT PRIMARY KEY, n INT)")
    try:
        first = _pump_run(path, env)
        try:
            for _ in range(1200):
                ((count,),) = await _sql(settings, f"SELECT COUNT(*) FROM `{table}`")
                if count >= 5_000 or first.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=20)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert first.returncode == -signal.SIGKILL, "pump run ended before it could be killed"
        ((partial,),) = await _sql(settings, f"SELECT COUNT(*) FROM `{table}`")
        assert 0 < partial < KILLED_ROWS
        second = _pump_run(path, env)
        output = second.communicate(timeout=300)[0].decode(errors="replace")
        assert second.returncode == 0, output[-3000:]
        ((count, total),) = await _sql(settings, f"SELECT COUNT(*), SUM(n) FROM `{table}`")
    finally:
        await _sql(settings, f"DROP TABLE IF EXISTS `{table}`")
    assert count == KILLED_ROWS and total == sum(i * 2 for i in range(KILLED_ROWS))
