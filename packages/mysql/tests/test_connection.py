"""MySQLConnection against a real server: pool, charset, masked password, TLS settings."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

import pump
from pump.testing import wait_until
from pump_mysql import MySQLConnection, MySQLConnectionError

SECRET = "n0t-the-Passw0rd"


def test_the_password_is_masked_in_repr_describe_and_config() -> None:
    app = pump.Application()
    connection = MySQLConnection(app, "db", config={"password": SECRET, "user": "pump"})
    assert SECRET not in repr(connection)
    assert SECRET not in str(connection.Config.masked())
    assert SECRET not in repr(connection.Config)
    assert connection.scrub(f"said {SECRET} twice {SECRET}") == "said ***** twice *****"


def test_tls_settings_make_an_ssl_context() -> None:
    app = pump.Application()
    connection = MySQLConnection(app, "db", config={"tls": True, "tls_check_hostname": False})
    context = connection._pool_arguments()["ssl"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname is False
    plain = MySQLConnection(app, "plain")._pool_arguments()
    assert "ssl" not in plain and plain["charset"] == "utf8mb4" and plain["autocommit"] is False


@pytest.mark.service
async def test_the_pool_is_bounded_and_speaks_utf8mb4(db: Any) -> None:
    app = pump.Application()
    connection = db.add_connection(app, min_size=1, max_size=2)
    await connection.start()
    try:
        assert connection.connected == 1
        async with connection.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT @@character_set_client, @@autocommit, 'ž✓😀'")
            assert await cursor.fetchone() == ("utf8mb4", 0, "ž✓😀")
        held: list[Any] = []
        release = asyncio.Event()

        async def hold() -> None:
            async with connection.acquire() as conn:
                held.append(conn)
                await release.wait()

        tasks = [asyncio.create_task(hold()) for _ in range(3)]
        assert await wait_until(lambda: len(held) == 2, 10.0)
        await asyncio.sleep(0.2)  # the third waits for one of the two
        assert len(held) == 2 and connection.Pool is not None and connection.Pool.size == 2
        release.set()
        await asyncio.gather(*tasks)
        assert len(held) == 3
    finally:
        await connection.stop()
    assert connection.connected == 0


@pytest.mark.service
async def test_a_connection_broken_mid_use_is_not_given_back(db: Any) -> None:
    app = pump.Application()
    connection = db.add_connection(app)
    await connection.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a lost link
            async with connection.acquire() as conn, conn.cursor() as cursor:
                await cursor.execute("SELECT CONNECTION_ID()")
                (thread,) = await cursor.fetchone()
                await db.execute(f"KILL CONNECTION {thread}")
                await cursor.execute("SELECT 1")
        assert conn.closed
        assert connection.connected == 0
        async with connection.acquire() as again, again.cursor() as cursor:
            await cursor.execute("SELECT 1")
            assert await cursor.fetchone() == (1,)
        assert connection.reconnects == 1 and connection.connected == 1
    finally:
        await connection.stop()


async def test_stop_waits_for_borrowed_connections_but_not_forever(
    db: Any, caplog: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("pump_mysql.connection.CLOSE_TIMEOUT", 0.3)
    app = pump.Application()
    connection = db.add_connection(app)
    await connection.start()
    borrowed, hold = asyncio.Event(), asyncio.Event()

    async def user() -> None:
        async with connection.acquire():
            borrowed.set()
            await hold.wait()

    task = asyncio.create_task(user())
    await borrowed.wait()
    # given back while stop() waits: stop ends at once, without closing anything by force
    asyncio.get_running_loop().call_later(0.1, hold.set)
    await asyncio.wait_for(connection.stop(), 5)
    await task
    assert "still borrowed" not in caplog.text

    await connection.start()
    hold.clear()
    borrowed.clear()
    task = asyncio.create_task(user())
    await borrowed.wait()
    await asyncio.wait_for(connection.stop(), 5)  # never given back: closed after the timeout
    assert "connections still borrowed after 0.3s; closing them" in caplog.text
    hold.set()
    await task


async def test_acquire_gives_up_after_acquire_timeout_with_a_clear_error(caplog: Any) -> None:
    app = pump.Application()
    # started against a live port, then pointed at a closed one: what an outage looks like
    connection = MySQLConnection(
        app,
        "db",
        config={
            "port": 1,
            "min_size": 0,
            "acquire_timeout": 0.5,
            "reconnect_delay": 0.05,
            "reconnect_delay_max": 0.1,
            "connect_timeout": 0.5,
            "password": SECRET,
        },
    )
    connection.Pool = await _empty_pool(connection)
    try:
        with pytest.raises(MySQLConnectionError) as caught:
            async with connection.acquire():
                pass
    finally:
        await connection.stop()
    message = str(caught.value)
    assert "MySQLConnection 'db'" in message and "acquire_timeout" in message
    assert "nothing answers at 127.0.0.1:1" in message and SECRET not in message
    assert "cannot connect" in caplog.text and SECRET not in caplog.text


async def _empty_pool(connection: MySQLConnection) -> Any:
    import aiomysql

    arguments = connection._pool_arguments()
    return await aiomysql.create_pool(**arguments)
