"""RedisConnection: a clear error when Redis cannot be reached, and the password kept secret."""

from __future__ import annotations

import socket

import pump
import pytest

from pump_redis import RedisConnection
from pump_redis.connection import without_password


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_an_unreachable_server_is_named_without_its_password() -> None:
    port = free_port()  # nothing listens there
    app = pump.Application(exit_when_finished=False)
    connection = RedisConnection(
        app, "cache", config={"url": f"redis://:hunter2@127.0.0.1:{port}/0", "password": "s3cret"}
    )
    with pytest.raises(pump.PumpError) as raised:
        await connection.start()
    message = str(raised.value)
    assert "RedisConnection 'cache'" in message and f"127.0.0.1:{port}" in message
    assert "hunter2" not in message and "s3cret" not in message


def test_the_password_is_masked() -> None:
    app = pump.Application(exit_when_finished=False)
    connection = RedisConnection(app, "cache", config={"password": "s3cret"})
    assert "s3cret" not in repr(connection.Config)
    assert "s3cret" not in str(connection.Config.masked())
    assert connection.Config.password.get_secret_value() == "s3cret"


@pytest.mark.asyncio
async def test_the_client_answers_once_started(redis_url: str) -> None:
    app = pump.Application(exit_when_finished=False)
    connection = RedisConnection(app, "cache", config={"url": redis_url})
    await connection.start()
    try:
        assert await connection.get_client().ping()
    finally:
        await connection.stop()
    with pytest.raises(pump.BuildError, match="not started"):
        connection.get_client()


def test_without_password_strips_the_user_part() -> None:
    assert without_password("redis://user:pw@host:6379/0") == "redis://host:6379/0"
    assert without_password("rediss://host:6380") == "rediss://host:6380"
