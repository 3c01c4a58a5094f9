"""Faults on a real server: connections killed mid-stream lose nothing, poison rows alone fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pump.testing import wait_until
from pump_mysql import MySQLConnection

pytestmark = pytest.mark.service


def thread_ids(connection: MySQLConnection) -> list[int]:
    """Server thread ids of every connection of the pool (borrowed or idle)."""
    pool = connection.Pool
    assert pool is not None
    return [c.server_thread_id[0] for c in [*pool._used, *pool._free]]


async def test_killed_connections_mid_stream_reconnect_and_lose_nothing(
    db: Any, sink_run: Any
) -> None:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(40), n INT")
    run = sink_run({"table": table, "mode": "upsert"}, batch_size=100, sink_retries=-1)
    events = [{"id": i, "name": f"n{i}", "n": i} for i in range(10_000)]
    run.feed(events)
    await run.app.start()
    kills = 0
    try:
        for _ in range(3):
            progressed = run.sink.transactions + 5
            assert await wait_until(lambda p=progressed: run.sink.transactions >= p, 20.0)
            for thread in thread_ids(run.connection):
                await db.execute(f"KILL CONNECTION {thread}")
                kills += 1
        assert await wait_until(run.settled, 60.0), "batches still pending after the kills"
        assert run.connection.connected == 1
    finally:
        await run.app.stop(timeout=5.0)
    assert kills >= 3
    assert run.statuses() == {"acknowledged"}
    assert not run.dead_letter.outputs
    count = await db.rows(f"SELECT COUNT(*) AS n, SUM(n) AS total FROM `{table}`")
    assert count == [{"n": 10_000, "total": sum(range(10_000))}]
    assert run.connection.reconnects >= 1


async def test_a_killed_connection_fails_the_batch_whole_and_it_is_written_again(
    db: Any, sink_run: Any
) -> None:
    table = await db.table("id INT PRIMARY KEY")
    run = sink_run({"table": table, "check_table": False}, batch_size=10, sink_retries=-1)
    run.feed([{"id": i} for i in range(10)])
    connection = run.connection
    await connection.start()
    # the pool's connection is killed before the first write uses it
    for thread in thread_ids(connection):
        await db.execute(f"KILL CONNECTION {thread}")
    await asyncio.sleep(0.1)
    await run.app.start()
    try:
        assert await wait_until(run.settled, 20.0)
    finally:
        await run.app.stop(timeout=5.0)
    assert run.statuses() == {"acknowledged"}
    assert [r["id"] for r in await db.rows(f"SELECT id FROM `{table}` ORDER BY id")] == list(
        range(10)
    )
    assert not run.dead_letter.outputs
