"""Fixtures of pump-mysql's tests: a real MySQL or MariaDB server, and tables of each test's own.

The server is `$PUMP_MYSQL_URL` (mysql://user:password@host:port/database), else MariaDB on
127.0.0.1:3306 as root without a password, database `test`. Without a server the tests are
skipped — or fail, under PUMP_REQUIRE_SERVICES=1 (CI). Every test makes tables with unique
names and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomysql
import pytest

import pump
from pump.testing import service_address
from pump_mysql import MySQLConnection

URL_ENV = "PUMP_MYSQL_URL"
LOCAL_URL = "mysql://root@127.0.0.1:3306/test"


def settings_of(url: str) -> dict[str, Any]:
    """MySQLConnection settings of a mysql:// URL."""
    parts = urlsplit(url if "://" in url else f"mysql://{url}")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or "test",
    }


@pytest.fixture(scope="session")
def mysql_settings() -> dict[str, Any]:
    """Connection settings of the test server (skip, or fail in CI, when there is none)."""
    return settings_of(service_address("mysql", URL_ENV, LOCAL_URL))


class Database:
    """The test's side of the server: its own tables, SQL run directly."""

    def __init__(self, settings: dict[str, Any], conn: aiomysql.Connection) -> None:
        self.settings = settings
        self.conn = conn
        self.tables: list[str] = []

    def add_connection(self, app: pump.Application, id: str = "db", **config: Any) -> MySQLConnection:
        """A MySQLConnection to the test server registered in `app` (once per id)."""
        if id not in app.Connections:
            settings = {**self.settings, "reconnect_delay": 0.05, "reconnect_delay_max": 0.5, **config}
            app.add_connection(MySQLConnection(app, id, config=settings))
        connection = app.Connections[id]
        assert isinstance(connection, MySQLConnection)
        return connection

    async def table(self, columns: str, prefix: str = "t") -> str:
        """A new table of the given column definitions, with a unique name."""
        name = f"pump_{prefix}_{uuid.uuid4().hex[:12]}"
        await self.execute(f"CREATE TABLE `{name}` ({columns}) ENGINE=InnoDB")
        self.tables.append(name)
        return name

    async def execute(self, sql: str, args: Any = None) -> int:
        async with self.conn.cursor() as cursor:
            return int(await cursor.execute(sql, args))

    async def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        async with self.conn.cursor(aiomysql.DictCursor) as cursor:
            await cursor.execute(sql, args)
            return list(await cursor.fetchall())


@pytest.fixture
async def db(mysql_settings: dict[str, Any]) -> AsyncIterator[Database]:
    s = mysql_settings
    conn = await aiomysql.connect(
        host=s["host"], port=s["port"], user=s["user"], password=s["password"], db=s["database"],
        charset="utf8mb4", autocommit=True,
    )
    database = Database(s, conn)
    try:
        yield database
    finally:
        for name in database.tables:
            await database.execute(f"DROP TABLE IF EXISTS `{name}`")
        conn.close()
