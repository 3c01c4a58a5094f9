"""MySQLConnection: a pool of connections to one MySQL or MariaDB server, shared by id.

Components borrow a connection with `async with connection.acquire() as conn:`. While the
server is away, `acquire` waits and tries again with the connection's backoff (each attempt
logged, rate limited, and counted) until `acquire_timeout`; a connection that failed
mid-statement is closed, never given back to the pool. The password never leaves this
module: not in logs, errors, `repr` or `describe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiomysql
import pymysql
from pydantic import Field, SecretStr, model_validator

import pump
from pump_mysql.errors import (
    MySQLConnectionError,
    MySQLError,
    MySQLSchemaError,
    connection_lost,
    error_code,
    error_text,
)
from pump_mysql.statements import quote, quote_column

L = logging.getLogger(__name__)
# How long stop() waits for borrowed connections to come back before closing them.
CLOSE_TIMEOUT = 10.0

MASK = "*****"


class MySQLConnectionConfig(pump.TLSConfig, pump.ReconnectConfig):
    """Settings of a MySQLConnection (TLS: `tls: true` or any tls_* file)."""

    host: str = Field(
        "127.0.0.1", description="Server host name or address", examples=["db.example"]
    )
    port: int = Field(3306, ge=1, le=65535, description="Server port")
    user: str = Field("root", description="User name")
    password: SecretStr = Field(SecretStr(""), description="Password (a secret: masked everywhere)")
    database: str = Field(
        "", description="Default database (schema); empty: none", examples=["shop"]
    )
    charset: str = Field("utf8mb4", description="Character set of the connection")
    min_size: int = Field(1, ge=0, description="Connections the pool keeps open")
    max_size: int = Field(10, ge=1, description="Most connections the pool opens at once")
    connect_timeout: float = Field(
        10.0,
        gt=0,
        le=31536000,
        description="Seconds to open one connection before it counts as failed",
    )
    acquire_timeout: float = Field(
        60.0,
        gt=0,
        description=(
            "Seconds a component waits for the server to come back before its operation fails"
        ),
    )
    pool_recycle: float = Field(
        -1, description="Close connections idle longer than this many seconds (-1: never)"
    )
    tls: bool = Field(False, description="Use TLS (implied by any tls_* file)")
    init_command: str = Field(
        "", description="SQL run on every new connection (e.g. SET time_zone = '+00:00')"
    )

    @model_validator(mode="after")
    def _sizes_in_order(self) -> MySQLConnectionConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size})")
        return self


class MySQLConnection(pump.Connection):
    """A pool of connections to a MySQL or MariaDB server (aiomysql), in utf8mb4 by default.

    `start()` opens the pool and fails at once with a clear MySQLConnectionError when the
    server cannot be used (wrong address, password or database); later outages are waited
    out by `acquire()`.
    """

    ConfigModel = MySQLConnectionConfig
    Config: MySQLConnectionConfig

    connected = pump.Gauge("1 while connected to the server, else 0")
    reconnects = pump.Counter("Times the link to the server was re-established after a loss")

    def __init__(
        self,
        app: pump.Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, id, config)
        config_ = self.Config
        self.address = f"{config_.user}@{config_.host}:{config_.port}/{config_.database}"
        self.Pool: aiomysql.Pool | None = None
        self._lost = False
        self._warn = pump.RateLimitedLog(L, interval=5.0)

    # -- lifecycle ------------------------------------------------------------------------

    def _pool_arguments(self) -> dict[str, Any]:
        config = self.Config
        arguments: dict[str, Any] = {
            "host": config.host,
            "port": config.port,
            "user": config.user,
            "password": config.password.get_secret_value(),
            "db": config.database or None,
            "charset": config.charset,
            "connect_timeout": config.connect_timeout,
            "autocommit": False,
            "minsize": config.min_size,
            "maxsize": config.max_size,
            "pool_recycle": config.pool_recycle,
        }
        if config.init_command:
            arguments["init_command"] = config.init_command
        if config.tls or config.tls_keys_given():
            try:
                arguments["ssl"] = config.ssl_context()
            except pump.TLSError as exc:
                raise MySQLConnectionError(f"{self.location()}: {exc}") from None
        return arguments

    async def start(self) -> None:
        """Open the pool; a clear MySQLConnectionError at once if the server is unusable."""
        if self.Pool is not None:
            return
        try:
            self.Pool = await aiomysql.create_pool(**self._pool_arguments())
        except (TimeoutError, pymysql.err.MySQLError, OSError) as exc:
            raise MySQLConnectionError(
                f"{self.location()}: cannot connect to {self.address}: {self.describe_error(exc)}"
            ) from None
        self.connected = 1
        L.info("%s: connected to %s", self.location(), self.address)

    async def stop(self) -> None:
        """Close the pool: idle connections now, borrowed ones when given back."""
        pool, self.Pool = self.Pool, None
        self.connected = 0
        if pool is not None:
            pool.close()
            try:
                await asyncio.wait_for(pool.wait_closed(), CLOSE_TIMEOUT)
            except TimeoutError:
                # a connection never given back must not hold the stop forever
                L.warning(
                    "%s: connections still borrowed after %gs; closing them",
                    self.location(),
                    CLOSE_TIMEOUT,
                )
                pool.terminate()
                await pool.wait_closed()

    # -- for components -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[aiomysql.Connection]:
        """A connection of the pool for one unit of work (a transaction), given back after.

        Waits for the server while it is away (backoff, up to `acquire_timeout`). If the body
        fails because the link broke, the connection is closed instead of going back.
        """
        pool, conn = await self._acquire()
        try:
            yield conn
        except BaseException as exc:
            if not isinstance(exc, Exception) or connection_lost(exc):
                # cancelled mid-statement or the link broke: the connection's state is unknown
                conn.close()
                if isinstance(exc, Exception):
                    self._mark_lost(exc)
            raise
        finally:
            # to the pool it came from, even if stop() has let go of it meanwhile: its
            # wait_closed() waits for every connection it lent
            pool.release(conn)

    async def _acquire(self) -> tuple[aiomysql.Pool, aiomysql.Connection]:
        config = self.Config
        backoff = config.backoff()
        deadline = time.monotonic() + config.acquire_timeout
        while True:
            pool = self.Pool
            if pool is None:
                raise MySQLConnectionError(f"{self.location()} is not started")
            try:
                # asyncio.timeout, not wait_for: on 3.11 a wait_for cancelled just as the pool
                # handed out a connection drops it, and the pool waits for it forever at close
                async with asyncio.timeout(config.connect_timeout):
                    conn = await pool.acquire()
            except (TimeoutError, pymysql.err.MySQLError, OSError) as exc:
                self._mark_lost(exc)
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    raise MySQLConnectionError(
                        f"{self.location()}: cannot connect to {self.address} within "
                        f"{config.acquire_timeout}s (acquire_timeout): {self.describe_error(exc)}"
                    ) from None
                self._warn.warning(
                    "%s: cannot connect to %s (%s); attempt %d, next in %.2fs",
                    self.location(),
                    self.address,
                    self.describe_error(exc),
                    backoff.attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if self._lost:
                self._lost = False
                self.connected = 1
                self.reconnects += 1
                L.warning("%s: reconnected to %s", self.location(), self.address)
            return pool, conn

    async def check_table(
        self, where: str, table: str, columns: Sequence[str], columns_key: str
    ) -> None:
        """Raise now, not at each statement, if `table` or its `columns` are not there.

        `where` names the component in the error, `columns_key` the config key(s) naming the
        columns. A missing table or column is a MySQLSchemaError; anything else a MySQLError.
        """
        listed = ", ".join(quote_column(c) for c in columns) or "1"
        try:
            async with self.acquire() as conn, conn.cursor() as cursor:
                await cursor.execute(f"SELECT {listed} FROM {quote(table)} LIMIT 0")
                await conn.rollback()
        except pymysql.err.MySQLError as exc:
            code, text = error_code(exc), error_text(exc)
            if code == 1146:
                raise MySQLSchemaError(
                    f"{where}: key 'table': no table '{table}' ({text})"
                ) from None
            if code == 1054:
                raise MySQLSchemaError(
                    f"{where}: {columns_key}: {text} in table '{table}'"
                ) from None
            if code == 1046:
                raise MySQLSchemaError(
                    f"{where}: key 'table': '{table}' names no database and the connection has "
                    f"none (key 'database'): {text}"
                ) from None
            raise MySQLError(
                f"{where}: cannot use table '{table}': {self.describe_error(exc)}"
            ) from None

    def _mark_lost(self, exc: BaseException) -> None:
        if not self._lost:
            self._lost = True
            self.connected = 0
            L.warning(
                "%s: connection to %s lost (%s)",
                self.location(),
                self.address,
                self.describe_error(exc),
            )

    def describe_error(self, exc: BaseException) -> str:
        """`what happened: server message` for an error of this connection, password masked."""
        code = error_code(exc)
        text = self.scrub(error_text(exc))
        config = self.Config
        if code == 1045:
            return f"access denied for user '{config.user}' (wrong user name or password): {text}"
        if code == 1049:
            return f"unknown database '{config.database}' (key 'database'): {text}"
        if code in (2003, 2005):
            return f"nothing answers at {config.host}:{config.port}: {text}"
        if isinstance(exc, TimeoutError):
            return f"no answer within {config.connect_timeout}s (connect_timeout)"
        if code is not None:
            return f"error {code}: {text}"
        return f"{type(exc).__name__}: {text}"

    def scrub(self, text: str) -> str:
        """`text` with the password masked."""
        password = self.Config.password.get_secret_value()
        return text.replace(password, MASK) if password else text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r} {self.address}>"
