"""MySQLLookup on a real server: batched loading, the cache (TTL, size), reload on a message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pump
from pump_mysql import MySQLConnection, MySQLLookup

pytestmark = pytest.mark.service


@pytest.fixture
async def names(db: Any) -> AsyncIterator[tuple[pump.Application, str]]:
    table = await db.table("id INT PRIMARY KEY, name VARCHAR(20), size INT")
    await db.execute(
        f"INSERT INTO `{table}` VALUES "
        + ", ".join(f"({i}, 'n{i}', {i * 10})" for i in range(1000))
    )
    app = pump.Application(exit_when_finished=False)
    connection = db.add_connection(app)
    await connection.start()
    yield app, table
    await connection.stop()


async def started(app: pump.Application, config: dict[str, Any]) -> MySQLLookup:
    lookup = MySQLLookup(app, "db", config=config)
    await lookup.start()
    return lookup


async def test_many_keys_load_with_one_query_per_batch_max(names: Any) -> None:
    app, table = names
    lookup = await started(app, {"table": table, "key_column": "id", "batch_max": 300})
    try:
        found = await lookup.get_many([*range(700), 5000, 5001])
        assert len(found) == 700 and found[42] == {"id": 42, "name": "n42", "size": 420}
        assert 5000 not in found
        assert lookup.queries == 3 and lookup.keys_loaded == 702
        # concurrent gets of the same moment share a query too
        values = await asyncio.gather(*(lookup.get(k) for k in range(700, 710)))
        assert [v["name"] for v in values] == [f"n{k}" for k in range(700, 710)]
        assert lookup.queries == 4
    finally:
        await lookup.stop()


async def test_cached_rows_and_absences_are_not_loaded_again_until_the_ttl(
    db: Any, names: Any
) -> None:
    app, table = names
    lookup = await started(app, {"table": table, "key_column": "id", "cache_ttl": 2.0})
    try:
        assert (await lookup.get(1))["name"] == "n1"
        assert await lookup.get(9999) is None
        await db.execute(f"UPDATE `{table}` SET name = 'changed' WHERE id = 1")
        await db.execute(f"INSERT INTO `{table}` VALUES (9999, 'new', 0)")
        assert (await lookup.get(1))["name"] == "n1" and await lookup.get(9999) is None
        assert lookup.queries == 2 and lookup.cache_hits == 2
        await asyncio.sleep(2.05)
        assert (await lookup.get(1))["name"] == "changed"
        assert (await lookup.get(9999))["name"] == "new"
    finally:
        await lookup.stop()


async def test_the_cache_keeps_at_most_cache_size_entries(names: Any) -> None:
    app, table = names
    lookup = await started(app, {"table": table, "key_column": "id", "cache_size": 50})
    try:
        await lookup.get_many(range(200))
        assert lookup.cached() == 50
    finally:
        await lookup.stop()


async def test_columns_choose_the_value_and_a_message_reloads(db: Any, names: Any) -> None:
    app, table = names
    lookup = await started(
        app,
        {
            "table": table,
            "key_column": "id",
            "columns": ["name"],
            "reload_message": "Tables.changed!",
        },
    )
    try:
        assert await lookup.get(3) == {"name": "n3"}
        await db.execute(f"UPDATE `{table}` SET name = 'three' WHERE id = 3")
        assert await lookup.get(3) == {"name": "n3"}
        changed: list[Any] = []
        app.PubSub.subscribe(pump.lookup.CHANGED, lambda *args: changed.append(args))
        app.PubSub.publish("Tables.changed!")
        for _ in range(100):
            if changed:
                break
            await asyncio.sleep(0.02)
        assert changed and await lookup.get(3) == {"name": "three"}
    finally:
        await lookup.stop()


def test_table_and_key_column_are_required() -> None:
    app = pump.Application()
    app.add_connection(MySQLConnection(app, "db"))
    with pytest.raises(pump.ConfigError, match="key 'key_column': required"):
        MySQLLookup(app, "db", config={"table": "t"})
