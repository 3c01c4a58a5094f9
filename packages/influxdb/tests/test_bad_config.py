"""Wrong settings refused when built or started, naming the component and key; no secret shown."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_influxdb import (
    InfluxDBAuthError,
    InfluxDBConnection,
    InfluxDBNotFound,
    InfluxDBSink,
    InfluxDBSource,
)

from .conftest import victoria_config

WRONG = "wr0ng-Passw0rd-or-T0ken"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"url": "localhost:8086", "database": "d"}, "url"),
        ({"url": "http://u:p@localhost:8086", "database": "d"}, "url"),
        ({"api": "v1"}, "database"),
        ({"api": "v2"}, "bucket"),
        ({}, "database"),
        ({"database": "d", "password": "x"}, "password"),
        ({"database": "d", "timeout": 0}, "timeout"),
        ({"database": "d", "gzip_level": 10}, "gzip_level"),
        ({"database": "d", "api": "v3"}, "api"),
        ({"database": "d", "tls_ca_file": "/no/such/ca.pem"}, "tls_ca_file"),
    ],
)
def test_connection_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(pump.ConfigError, match=key) as caught:
        InfluxDBConnection(pump.Application(), "influx", config=config)
    assert "InfluxDBConnection 'influx'" in str(caught.value)
    assert ":p@" not in str(caught.value)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"precision": "m"}, "precision"),
        ({"time_unit": "h"}, "time_unit"),
        ({"tags": ["a"], "fields": ["a"]}, "fields"),
        ({"measurement": "#comment"}, "measurement"),
        ({"measurement": "ends\\"}, "measurement"),
        ({"tags": {"bad\\": "x"}}, "tags"),
        ({"batch_max_points": 0}, "batch_max_points"),
        ({"integers": "decimal"}, "integers"),
    ],
)
def test_sink_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    app = pump.Application()
    app.add_connection(InfluxDBConnection(app, "influx", config={"database": "d"}))
    with pytest.raises(pump.ConfigError, match=key) as caught:
        InfluxDBSink(app, pump.Pipeline(app, "p"), "influx", "out", config=config)
    assert "'out'" in str(caught.value)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "query"),
        ({"query": "SELECT 1", "flux": "x"}, "query"),
        ({"query": "SELECT * FROM m", "position_file": "/tmp/x.pos"}, "query"),
        ({"query": "SELECT * FROM m WHERE time > $after AND time <= $until"}, "position_file"),
        (
            {
                "query": "SELECT * FROM m WHERE time > $after AND time <= $until "
                "ORDER BY time DESC",
                "position_file": "/tmp/x.pos",
            },
            "query",
        ),
        ({"flux": "from(bucket: x)", "position_file": "/tmp/x.pos"}, "flux"),
        ({"query": "SELECT 1", "batch_size": 0}, "batch_size"),
    ],
)
def test_source_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    app = pump.Application()
    app.add_connection(InfluxDBConnection(app, "influx", config={"database": "d"}))
    with pytest.raises(pump.ConfigError, match=key) as caught:
        InfluxDBSource(app, pump.Pipeline(app, "p"), "influx", "in", config=config)
    assert "'in'" in str(caught.value)


def test_an_unknown_connection_is_a_build_error() -> None:
    app = pump.Application()
    with pytest.raises(pump.BuildError, match="nope"):
        InfluxDBSink(app, pump.Pipeline(app, "p"), "nope", config={"measurement": "m"})


async def test_a_wrong_password_is_refused_without_printing_it(auth_db: Any, caplog: Any) -> None:
    app = pump.Application()
    config = auth_db.connection_config(password=WRONG)
    connection = InfluxDBConnection(app, "influx", config=config)
    with pytest.raises(InfluxDBAuthError) as caught:
        await connection.start()
    message = str(caught.value)
    assert "InfluxDBConnection 'influx'" in message and "401" in message
    assert "user 'admin' (keys 'username', 'password') refused" in message
    assert WRONG not in message and WRONG not in caplog.text


async def test_no_credentials_against_a_server_that_wants_them(auth_db: Any) -> None:
    app = pump.Application()
    config = {
        k: v for k, v in auth_db.connection_config().items() if k not in ("username", "password")
    }
    connection = InfluxDBConnection(app, "influx", config=config)
    with pytest.raises(InfluxDBAuthError, match="no credentials"):
        await connection.start()


async def test_the_right_password_is_accepted(auth_db: Any, sink_run: Any) -> None:
    run = sink_run(auth_db.connection_config(), {"measurement": "m"})
    run.feed([{"v": 1, "time": 1}])
    await run.run()
    assert len(auth_db.points("m")) == 1


async def test_a_wrong_token_is_refused_without_printing_it(
    victoria_auth: Any, caplog: Any
) -> None:
    app = pump.Application()
    connection = InfluxDBConnection(
        app, "influx", config=victoria_config(victoria_auth, token=WRONG)
    )
    with pytest.raises(InfluxDBAuthError) as caught:
        await connection.start()
    message = str(caught.value)
    assert "the token (key 'token') refused" in message
    assert WRONG not in message and WRONG not in caplog.text


async def test_a_wrong_token_at_write_time_fails_the_write_not_the_event(
    victoria_auth: Any, sink_run: Any
) -> None:
    run = sink_run(
        victoria_config(victoria_auth, token=WRONG, check_on_start=False),
        {"measurement": "m"},
        on_error="stop",
        sink_retries=0,
    )
    run.feed([{"v": 1}])
    await run.run()
    errors = [str(e.as_dict()["error"]) for e in run.pipeline.errors]
    assert errors and "the token (key 'token') refused" in errors[0]
    assert not run.dead_letters() and all(WRONG not in e for e in errors)


async def test_an_unknown_database_is_named(db: Any) -> None:
    app = pump.Application()
    connection = InfluxDBConnection(
        app, "influx", config=db.connection_config(database="pump_no_such_database")
    )
    with pytest.raises(
        InfluxDBNotFound, match="unknown database 'pump_no_such_database' \\(key 'database'\\)"
    ) as caught:
        await connection.start()
    assert db.name in str(caught.value), "the message lists the databases there are"


async def test_an_unknown_retention_policy_is_named(db: Any) -> None:
    app = pump.Application()
    connection = InfluxDBConnection(
        app, "influx", config=db.connection_config(retention_policy="nope")
    )
    with pytest.raises(
        InfluxDBNotFound, match="retention policy 'nope' \\(key 'retention_policy'\\)"
    ):
        await connection.start()
