"""Wrong settings refused when built or started, naming the component and key; no secret shown."""

from __future__ import annotations

import re
from typing import Any

import pytest

import pump
from pump_mysql import (
    MySQLConnection,
    MySQLConnectionError,
    MySQLError,
    MySQLSchemaError,
    MySQLSink,
    MySQLSource,
)

WRONG = "wr0ng-Passw0rd"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"port": 0}, "port"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"tls_ca_file": "/no/such/ca.pem"}, "tls_ca_file"),
        ({"hostname": "x"}, "hostname"),
    ],
)
def test_connection_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(pump.ConfigError, match=key) as caught:
        MySQLConnection(pump.Application(), "db", config=config)
    assert "MySQLConnection 'db'" in str(caught.value)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"mode": "merge"}, "mode"),
        ({"table": "t", "update_columns": ["a"]}, "update_columns"),
        ({"statement": "INSERT INTO t VALUES (%(a)s)", "table": "t"}, "table"),
        ({"statement": "INSERT INTO t VALUES (%(a)s)", "mode": "upsert"}, "mode"),
        ({"table": "t", "columns": ["a", ""]}, "columns"),
    ],
)
def test_sink_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    app = pump.Application()
    app.add_connection(MySQLConnection(app, "db"))
    with pytest.raises(pump.ConfigError, match=key) as caught:
        MySQLSink(app, pump.Pipeline(app, "p"), "db", "out", config=config)
    assert "'out'" in str(caught.value)


def test_an_unknown_connection_is_a_build_error() -> None:
    app = pump.Application()
    with pytest.raises(pump.BuildError, match="nope"):
        MySQLSink(app, pump.Pipeline(app, "p"), "nope", config={"table": "t"})


@pytest.mark.service
async def test_a_wrong_password_is_refused_without_printing_it(db: Any, caplog: Any) -> None:
    app = pump.Application()
    connection = db.add_connection(app, password=WRONG)
    with pytest.raises(MySQLConnectionError) as caught:
        await connection.start()
    message = str(caught.value)
    assert "MySQLConnection 'db'" in message and "access denied for user" in message
    assert WRONG not in message and WRONG not in caplog.text


@pytest.mark.service
async def test_an_unknown_database_is_named(db: Any) -> None:
    app = pump.Application()
    connection = db.add_connection(app, database="pump_no_such_database")
    with pytest.raises(
        MySQLConnectionError, match="unknown database 'pump_no_such_database' \\(key 'database'\\)"
    ):
        await connection.start()


@pytest.mark.service
async def test_an_unknown_table_or_column_fails_the_sink_at_start(db: Any) -> None:
    table = await db.table("id INT PRIMARY KEY")
    app = pump.Application()
    connection = db.add_connection(app)
    pipeline = pump.Pipeline(app, "p")
    missing = MySQLSink(app, pipeline, "db", "out", config={"table": "pump_no_such_table"})
    wrong_column = MySQLSink(
        app, pipeline, "db", "out2", config={"table": table, "columns": ["id", "nope"]}
    )
    await connection.start()
    try:
        with pytest.raises(MySQLSchemaError, match="key 'table': no table 'pump_no_such_table'"):
            await missing.start()
        with pytest.raises(MySQLSchemaError, match=r"key 'columns': .*'nope'"):
            await wrong_column.start()
    finally:
        await connection.stop()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "table"),
        ({"table": "t", "query": "SELECT 1"}, "query"),
        ({"table": "t", "incrementing_column": "id"}, "position_file"),
        ({"table": "t", "position_file": "/tmp/x.pos"}, "position_file"),
        ({"table": "t", "batch_size": 0}, "batch_size"),
    ],
)
def test_source_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    app = pump.Application()
    app.add_connection(MySQLConnection(app, "db"))
    with pytest.raises(pump.ConfigError, match=key) as caught:
        MySQLSource(app, pump.Pipeline(app, "p"), "db", "in", config=config)
    assert "'in'" in str(caught.value)


@pytest.mark.service
async def test_the_source_names_an_unknown_table_or_column_and_a_corrupt_position(
    db: Any, tmp_path: Any
) -> None:
    table = await db.table("id INT PRIMARY KEY")
    corrupt = tmp_path / "corrupt.pos"
    corrupt.write_text("{not json")
    app = pump.Application()
    connection = db.add_connection(app)
    pipeline = pump.Pipeline(app, "p")
    sources = {
        "key 'table': no table 'pump_no_such_table'": {"table": "pump_no_such_table"},
        "incrementing_column/timestamp_column: Unknown column 'nope'": {
            "table": table,
            "incrementing_column": "nope",
            "position_file": str(tmp_path / "a.pos"),
        },
        "key 'position_file': cannot read the saved position": {
            "table": table,
            "incrementing_column": "id",
            "position_file": str(corrupt),
        },
    }
    await connection.start()
    try:
        for i, (message, config) in enumerate(sources.items()):
            source = MySQLSource(app, pipeline, "db", f"in{i}", config=config)
            source.on(pump.RunOnceTrigger(app))
            with pytest.raises(MySQLError, match=re.escape(message)):
                await source.start()
    finally:
        await connection.stop()
