"""MySQLSink against a real server: what is written, upsert and replace, per-event tables,
refused rows isolated, a round trip."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

from pump.deadletter import original_event
from pump_mysql import MySQLRowError

pytestmark = pytest.mark.service

COLUMNS = "id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, amount DECIMAL(10,2), seen DATETIME"


async def test_a_batch_is_inserted_in_one_transaction_and_read_back(db: Any, sink_run: Any) -> None:
    table = await db.table(COLUMNS)
    run = sink_run({"table": table}, batch_size=50)
    events = [
        {
            "id": i,
            "name": f"ž{i}✓",
            "amount": decimal.Decimal(i) / 4,
            "seen": datetime.datetime(2026, 1, 1, 12, 0, i % 60),
        }
        for i in range(200)
    ]
    run.feed(events)
    await run.run()
    assert run.statuses() == {"acknowledged"}
    rows = await db.rows(f"SELECT * FROM `{table}` ORDER BY id")
    assert rows == events
    assert run.sink.transactions == 4 and run.sink.rows_committed == 200
    assert run.sink.rows_refused == 0 and not run.dead_letter.outputs


async def test_configured_columns_take_those_keys_and_missing_ones_are_null(
    db: Any, sink_run: Any
) -> None:
    table = await db.table(COLUMNS)
    run = sink_run({"table": table, "columns": ["id", "name", "amount"]})
    run.feed([{"id": 1, "name": "a", "amount": 2, "ignored": "x"}, {"id": 2, "name": "b"}])
    await run.run()
    rows = await db.rows(f"SELECT id, name, amount, seen FROM `{table}` ORDER BY id")
    assert rows == [
        {"id": 1, "name": "a", "amount": decimal.Decimal("2.00"), "seen": None},
        {"id": 2, "name": "b", "amount": None, "seen": None},
    ]


async def test_upsert_updates_existing_rows(db: Any, sink_run: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(40), hits INT")
    await db.execute(f"INSERT INTO `{table}` VALUES (1, 'old', 7), (2, 'keep', 9)")
    run = sink_run({"table": table, "mode": "upsert", "update_columns": ["name"]})
    run.feed([{"id": 1, "name": "new", "hits": 100}, {"id": 3, "name": "three", "hits": 3}])
    await run.run()
    rows = await db.rows(f"SELECT * FROM `{table}` ORDER BY id")
    assert rows == [
        {"id": 1, "name": "new", "hits": 7},  # only update_columns changed
        {"id": 2, "name": "keep", "hits": 9},
        {"id": 3, "name": "three", "hits": 3},
    ]


async def test_upsert_without_update_columns_sets_every_column_and_repeats_are_harmless(
    db: Any, sink_run: Any
) -> None:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(40), hits INT")
    run = sink_run({"table": table, "mode": "upsert"}, batch_size=3)
    events = [{"id": i % 4, "name": f"n{i}", "hits": i} for i in range(10)]
    run.feed(events)
    await run.run()
    rows = await db.rows(f"SELECT * FROM `{table}` ORDER BY id")
    assert rows == [
        {"id": k, "name": f"n{i}", "hits": i} for k, i in [(0, 8), (1, 9), (2, 6), (3, 7)]
    ]


async def test_replace_mode(db: Any, sink_run: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(40), hits INT DEFAULT 5")
    await db.execute(f"INSERT INTO `{table}` VALUES (1, 'old', 7)")
    run = sink_run({"table": table, "mode": "replace", "columns": ["id", "name"]})
    run.feed([{"id": 1, "name": "new"}])
    await run.run()
    assert await db.rows(f"SELECT * FROM `{table}`") == [{"id": 1, "name": "new", "hits": 5}]


async def test_custom_statement_with_named_parameters(db: Any, sink_run: Any) -> None:
    table = await db.table("id INT PRIMARY KEY, total INT")
    await db.execute(f"INSERT INTO `{table}` VALUES (1, 10)")
    statement = (
        f"INSERT INTO `{table}` (id, total) VALUES (%(key)s, %(add)s) "
        "ON DUPLICATE KEY UPDATE total = total + VALUES(total)"
    )
    run = sink_run({"statement": statement})
    run.feed([{"key": 1, "add": 5}, {"key": 2, "add": 1}, {"key": 1, "add": 1}])
    await run.run()
    assert await db.rows(f"SELECT * FROM `{table}` ORDER BY id") == [
        {"id": 1, "total": 16},
        {"id": 2, "total": 1},
    ]


async def test_the_context_names_the_table_per_event(db: Any, sink_run: Any) -> None:
    first = await db.table("id INT PRIMARY KEY, v VARCHAR(10)")
    second = await db.table("id INT PRIMARY KEY, w VARCHAR(10)")
    run = sink_run({"table": first}, batch_size=10)
    events = [{"id": 1, "v": "a"}, {"id": 1, "w": "b"}, {"id": 2, "v": "c"}]
    contexts = [{}, {"mysql_sink_table": second}, {"mysql_sink_table": first}]
    run.feed(events, contexts)
    await run.run()
    assert await db.rows(f"SELECT * FROM `{first}` ORDER BY id") == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "c"},
    ]
    assert await db.rows(f"SELECT * FROM `{second}`") == [{"id": 1, "w": "b"}]


async def test_a_poison_row_in_1000_is_dead_lettered_with_the_server_error_and_999_committed(
    db: Any, sink_run: Any
) -> None:
    table = await db.table(COLUMNS)
    run = sink_run({"table": table}, batch_size=1000)
    events = [{"id": i, "name": f"n{i}", "amount": i, "seen": None} for i in range(1000)]
    events[637] = {"id": 637, "name": None, "amount": 1, "seen": None}  # NOT NULL refuses it
    run.feed(events)
    await run.run()
    assert run.statuses() == {"acknowledged"}
    ids = [r["id"] for r in await db.rows(f"SELECT id FROM `{table}` ORDER BY id")]
    assert ids == [i for i in range(1000) if i != 637]
    assert len(run.dead_letter.outputs) == 1
    _context, letter = run.dead_letter.outputs[0]
    assert original_event(letter) == events[637]
    assert "MySQLRowError" in letter["error"] and "error 1048" in letter["error"]
    assert "cannot be null" in letter["error"]
    assert run.sink.rows_refused == 1 and run.sink.isolations == 1
    assert run.sink.transactions == 1 and run.sink.rows_committed == 999


async def test_refused_rows_carry_the_server_code_and_the_rest_commits(
    db: Any, sink_run: Any
) -> None:
    table = await db.table("id INT PRIMARY KEY, small TINYINT")
    await db.execute(f"INSERT INTO `{table}` VALUES (5, 1)")
    run = sink_run({"table": table}, batch_size=1000)
    events = [{"id": i, "small": i} for i in range(10)]  # id 5 is a duplicate
    events[8] = {"id": 8, "small": 100000}  # out of range
    events[2] = {"id": 2, "small": {"not": "a value"}}  # cannot be sent
    run.feed(events)
    pipeline_errors: list[BaseException] = []
    original = run.pipeline.handle_error

    def record(exc: BaseException, context: Any, event: Any) -> Any:
        pipeline_errors.append(exc)
        return original(exc, context, event)

    run.pipeline.handle_error = record  # type: ignore[method-assign]
    await run.run()
    ids = [r["id"] for r in await db.rows(f"SELECT id FROM `{table}` ORDER BY id")]
    assert ids == [0, 1, 3, 4, 5, 6, 7, 9]
    codes = sorted(e.code for e in pipeline_errors if isinstance(e, MySQLRowError))
    assert codes == [0, 1062, 1264], pipeline_errors
    assert len(run.dead_letter.outputs) == 3


async def test_events_that_are_not_rows_fail_permanently(db: Any, sink_run: Any) -> None:
    table = await db.table("id INT PRIMARY KEY")
    run = sink_run({"table": table}, batch_size=10)
    run.feed([{"id": 1}, "not a row", {"id": 2}])
    await run.run()
    assert [r["id"] for r in await db.rows(f"SELECT id FROM `{table}` ORDER BY id")] == [1, 2]
    ((_context, letter),) = run.dead_letter.outputs
    assert letter["event"] == "not a row" and "mappings of column name" in letter["error"]
