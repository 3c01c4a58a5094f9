"""MySQL/MariaDB: 200,000 rows of 6 columns into a table, 1,000 rows per transaction.

    python bench/mysql.py [--url URL] [--rows N] [--batch B] [--rounds R] [--pool-size P]

Both contestants take the same in-memory events (dicts of 6 columns) and insert them with
multi-row `INSERT` statements, one transaction (and `COMMIT`) per batch of B rows:

- `aiomysql_loop`: a hand-written aiomysql loop on one connection — for each batch, the rows
  as tuples (`operator.itemgetter`), `executemany` (which sends multi-row INSERTs), `commit`;
- `pump`: IteratorSource (batches of B) → MySQLSink (`columns` configured), on a pool of at
  most P connections (default 10: batches in flight are committed concurrently; `--pool-size 1`
  commits one at a time, as the loop does).

The server is `$PUMP_MYSQL_URL` (mysql://user:password@host:port/database) or MariaDB on
127.0.0.1:3306 as root, database `test`. The table is emptied before each timed run (not
timed); rounds alternate between the contestants and the best of each counts. The last line
is a JSON summary; `ratio` is pump / aiomysql_loop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import operator
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiomysql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

import pump
from pump.common import IteratorSource
from pump_mysql import MySQLConnection, MySQLSink
from pump_mysql.testing import LOCAL_URL, URL_ENV, settings_from_url

COLUMNS = ("id", "account", "name", "amount", "created", "note")
SCHEMA = (
    "id INT PRIMARY KEY, account INT NOT NULL, name VARCHAR(40) NOT NULL, amount DOUBLE, "
    "created DATETIME, note VARCHAR(80)"
)


def make_events(n: int) -> list[dict[str, Any]]:
    start = datetime.datetime(2026, 1, 1)
    return [
        {
            "id": i,
            "account": i % 997,
            "name": f"customer-{i % 5000}",
            "amount": i * 0.25,
            "created": start + datetime.timedelta(seconds=i),
            "note": "ž ordered again" if i % 3 else "first order",
        }
        for i in range(n)
    ]


async def connect(s: dict[str, Any]) -> aiomysql.Connection:
    return await aiomysql.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        password=s["password"],
        db=s["database"],
        charset="utf8mb4",
        autocommit=False,
    )


async def aiomysql_loop(
    s: dict[str, Any], table: str, events: list[dict[str, Any]], batch: int
) -> float:
    """Seconds for the hand-written loop."""
    statement = (
        f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    )
    row = operator.itemgetter(*COLUMNS)
    started = time.perf_counter()
    conn = await connect(s)
    try:
        async with conn.cursor() as cursor:
            for first in range(0, len(events), batch):
                await cursor.executemany(statement, [row(e) for e in events[first : first + batch]])
                await conn.commit()
    finally:
        conn.close()
    return time.perf_counter() - started


async def pump_pipeline(
    s: dict[str, Any], table: str, events: list[dict[str, Any]], batch: int, pool_size: int = 10
) -> float:
    """Seconds for IteratorSource → MySQLSink."""
    app = pump.Application(exit_when_finished=False)
    app.add_connection(MySQLConnection(app, "db", config={**s, "max_size": pool_size}))
    pipeline = pump.Pipeline(app, "bench")
    sink = MySQLSink(app, pipeline, "db", config={"table": table, "columns": list(COLUMNS)})
    pipeline.build(IteratorSource(app, pipeline, events, config={"batch_size": batch}), sink)
    app.add_pipeline(pipeline)
    started = time.perf_counter()
    await app.start()
    try:
        while sink.rows_committed < len(events) or pipeline.metrics()["in_flight"]:
            if pipeline.is_error():
                raise RuntimeError(f"the pipeline failed: {pipeline.errors}")
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
    finally:
        await app.stop(timeout=10.0)
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get(URL_ENV, LOCAL_URL))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool-size", type=int, default=10, help="most connections of pump's pool")
    args = parser.parse_args()
    s = settings_from_url(args.url)
    events = make_events(args.rows)
    table = f"pump_bench_{uuid.uuid4().hex[:8]}"
    admin = await connect(s)
    await admin.autocommit(True)
    contestants = {
        "aiomysql_loop": aiomysql_loop,
        "pump": functools.partial(pump_pipeline, pool_size=args.pool_size),
    }
    best = {name: 0.0 for name in contestants}
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"CREATE TABLE `{table}` ({SCHEMA}) ENGINE=InnoDB")
        for _round in range(args.rounds):
            for name, run in contestants.items():
                async with admin.cursor() as cursor:
                    await cursor.execute(f"TRUNCATE TABLE `{table}`")
                seconds = await run(s, table, events, args.batch)
                async with admin.cursor() as cursor:
                    await cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
                    (count,) = await cursor.fetchone()
                if count != args.rows:
                    raise SystemExit(f"{name} wrote {count} rows, not {args.rows}")
                best[name] = max(best[name], args.rows / seconds)
    finally:
        async with admin.cursor() as cursor:
            await cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
        admin.close()
    report(
        "mysql",
        best,
        reference="aiomysql_loop",
        subject="pump",
        rows=args.rows,
        batch=args.batch,
        rounds=args.rounds,
        pool_size=args.pool_size,
    )


if __name__ == "__main__":
    asyncio.run(main())
