"""Fixtures of pump-mysql's tests: a real MySQL or MariaDB server, and tables of each test's own.

The server is `$PUMP_MYSQL_URL` (mysql://user:password@host:port/database), else MariaDB on
127.0.0.1:3306 as root without a password, database `test`. Without a server the tests are
skipped — or fail, under PUMP_REQUIRE_SERVICES=1 (CI). Every test makes tables with unique
names and drops them afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import aiomysql
import pytest

import pump
from pump.testing import (
    CollectingSink,
    HarnessSource,
    require_service,
    service_address,
    wait_until,
)
from pump.testing.services import reachable
from pump_mysql import MySQLConnection, MySQLSink
from pump_mysql.testing import LOCAL_URL, URL_ENV, settings_from_url


@pytest.fixture(scope="session")
def mysql_settings() -> dict[str, Any]:
    """Connection settings of the test server (skip, or fail in CI, when there is none)."""
    return settings_from_url(service_address("mysql", URL_ENV, LOCAL_URL))


class Database:
    """The test's side of the server: its own tables, SQL run directly."""

    def __init__(self, settings: dict[str, Any], conn: aiomysql.Connection) -> None:
        self.settings = settings
        self.conn = conn
        self.tables: list[str] = []
        self._lock = asyncio.Lock()  # one connection: the contract reads back concurrently

    def add_connection(
        self, app: pump.Application, id: str = "db", **config: Any
    ) -> MySQLConnection:
        """A MySQLConnection to the test server registered in `app` (once per id)."""
        if id not in app.Connections:
            settings = {
                **self.settings,
                "reconnect_delay": 0.05,
                "reconnect_delay_max": 0.5,
                **config,
            }
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
        async with self._lock, self.conn.cursor() as cursor:
            return int(await cursor.execute(sql, args))

    async def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        async with self._lock, self.conn.cursor(aiomysql.DictCursor) as cursor:
            await cursor.execute(sql, args)
            return list(await cursor.fetchall())


@pytest.fixture
async def db(mysql_settings: dict[str, Any]) -> AsyncIterator[Database]:
    s = mysql_settings
    conn = await aiomysql.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        password=s["password"],
        db=s["database"],
        charset="utf8mb4",
        autocommit=True,
    )
    database = Database(s, conn)
    try:
        yield database
    finally:
        for name in database.tables:
            await database.execute(f"DROP TABLE IF EXISTS `{name}`")
        conn.close()


class SinkRun:
    """An application with one pipeline: HarnessSource → MySQLSink (+ dead letters)."""

    def __init__(
        self,
        db: Any,
        sink_config: Mapping[str, Any],
        *,
        batch_size: int = 100,
        on_error: str = "dead_letter",
        **pipeline_config: Any,
    ) -> None:
        self.app = pump.Application(exit_when_finished=False)
        self.connection = db.add_connection(self.app)
        config = {
            "on_error": on_error,
            "retry_backoff": 0.02,
            "retry_backoff_max": 0.2,
            **pipeline_config,
        }
        self.pipeline = pump.Pipeline(self.app, "to_mysql", config=config)
        self.source = HarnessSource(self.app, self.pipeline, "fed", batch_size=batch_size)
        self.sink = MySQLSink(self.app, self.pipeline, "db", "out", config=dict(sink_config))
        self.dead_letter = CollectingSink(self.app, self.pipeline, "dead_letter")
        self.pipeline.build(self.source, self.sink)
        self.pipeline.set_dead_letter(self.dead_letter)
        self.app.add_pipeline(self.pipeline)

    def feed(
        self, events: Sequence[Any], contexts: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        pairs = list(zip(contexts or [{}] * len(events), events, strict=True))
        self.source.feed(pairs)

    def settled(self) -> bool:
        return all(r.status != "pending" for r in self.source.records)

    async def run(self, timeout: float = 30.0) -> None:
        """Start, wait until every fed batch is acknowledged or rejected, stop."""
        await self.app.start()
        try:
            assert await wait_until(self.settled, timeout), (
                f"batches still pending after {timeout}s; errors: "
                f"{[e.as_dict()['error'] for e in self.pipeline.errors]}"
            )
        finally:
            await self.app.stop(timeout=5.0)

    def statuses(self) -> set[str]:
        return {r.status for r in self.source.records}


@pytest.fixture
def sink_run(db: Database) -> Callable[..., SinkRun]:
    """Makes a SinkRun (fed events → MySQLSink) against the test server."""
    return lambda sink_config, **kwargs: SinkRun(db, sink_config, **kwargs)


@pytest.fixture(scope="session")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A private MariaDB with the binary log on (ROW, full metadata), stopped by its PID after.

    The shared server may run without a binary log, so the CDC tests start their own:
    `mariadb-install-db` on a temporary datadir, then `mariadbd` on a free port.
    """
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if install is None or server is None:
        require_service(
            "mariadbd",
            "the binary-log tests start their own MariaDB (mariadb-install-db, mariadbd)",
        )
    assert install is not None and server is not None
    base = tmp_path_factory.mktemp("mariadb")
    data = base / "data"
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={base / 'sock'}",
            f"--pid-file={base / 'pid'}",
            f"--log-bin={data / 'bin'}",
            "--binlog-format=ROW",
            "--binlog-row-metadata=FULL",
            "--server-id=1",
            "--skip-name-resolve",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not reachable("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                require_service(
                    "mariadbd", f"the private MariaDB did not start (exit {process.poll()})"
                )
            time.sleep(0.2)
        yield {
            "host": "127.0.0.1",
            "port": port,
            "user": "root",
            "password": "",
            "database": "mysql",
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
