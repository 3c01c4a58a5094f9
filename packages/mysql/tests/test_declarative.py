"""MySQL components from declarative config: `from_config` and a YAML pipeline of their names."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_mysql import MySQLConnection, MySQLLookup, MySQLSink, MySQLSource

SECRET = "yaml-s3cret"


def test_from_config_takes_the_connection_id_from_the_config() -> None:
    app = pump.Application()
    connection = MySQLConnection.from_config(app, None, "db", {"host": "h", "password": SECRET})
    app.add_connection(connection)
    pipeline = pump.Pipeline(app, "p")
    sink = MySQLSink.from_config(
        app, pipeline, "out", {"connection": "db", "table": "t", "mode": "upsert"}
    )
    assert sink.Connection is connection and sink.Config.mode == "upsert"
    with pytest.raises(pump.ConfigError, match="key 'connection': required"):
        MySQLSink.from_config(app, pipeline, "out", {"table": "t"})


def test_a_yaml_pipeline_builds_from_the_registered_names(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  db: {type: mysql, host: 127.0.0.1, user: pump, password: '${DB_PASSWORD}',\n"
        "       database: shop, max_size: 4}\n"
        "pipelines:\n"
        "  load:\n"
        "    source: {type: iterator, iterator: [{id: 1}]}\n"
        "    sink: {type: mysql, connection: db, table: orders, mode: upsert, columns: [id]}\n"
    )
    app = declarative.build_file(path, environ={"DB_PASSWORD": SECRET})
    connection = app.Connections["db"]
    assert isinstance(connection, MySQLConnection) and connection.Config.max_size == 4
    assert connection.Config.password.get_secret_value() == SECRET
    sink = app.Pipelines["load"].sink
    assert isinstance(sink, MySQLSink) and sink.Connection is connection
    assert sink.Config.columns == ["id"] and sink.Config.mode == "upsert"
    assert SECRET not in repr(connection) and SECRET not in str(connection.Config.masked())


def test_a_yaml_source_with_a_trigger_and_a_lookup(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  db: {type: mysql, database: shop}\n"
        "lookups:\n"
        "  customers:\n"
        "    {type: mysql, connection: db, table: customers, key_column: id, cache_ttl: 5}\n"
        "pipelines:\n"
        "  export:\n"
        "    source:\n"
        "      type: mysql\n"
        "      connection: db\n"
        "      table: orders\n"
        "      incrementing_column: id\n"
        f"      position_file: {tmp_path / 'orders.pos'}\n"
        "      trigger: {type: periodic, interval: 10}\n"
        "    sink: {type: mysql, connection: db, table: copy}\n"
    )
    app = declarative.build_file(path, environ={})
    lookup = app.Lookups["customers"]
    assert isinstance(lookup, MySQLLookup) and lookup.Config.cache_ttl == 5
    source = app.Pipelines["export"].Sources[0]
    assert isinstance(source, MySQLSource) and source.incremental
    assert source.Connection is lookup.Connection is app.Connections["db"]
    assert len(source.Triggers) == 1
