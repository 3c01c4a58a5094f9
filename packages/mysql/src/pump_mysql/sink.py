"""MySQLSink: rows into a table, one transaction per batch, acknowledged once committed.

Each batch is written in one transaction of multi-row statements (`INSERT`, `REPLACE`,
`INSERT … ON DUPLICATE KEY UPDATE`, or a custom statement with named parameters) and
committed before the write completes, so the source acknowledges only committed rows.
When the server refuses a row (a constraint, bad data), the transaction is rolled back
and written again with the batch bisected under savepoints: the refused rows alone fail,
each as a `MySQLRowError` with the server's code and message (permanent: the error policy
gets it at once), and the rest is committed. A lost connection, a deadlock or a lock wait
timeout fails the whole batch (rolled back, nothing acknowledged), and the pipeline writes
it again once the server is back.

Per event, context key `mysql_sink_table` overrides the table (a key distinct from the
source's `mysql_table`, so an input's table is never written back by accident).
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import aiomysql
import pymysql
from pydantic import Field, model_validator

import pump
from pump_mysql.connection import MySQLConnection
from pump_mysql.errors import (
    MySQLConnectionError,
    MySQLError,
    MySQLRowError,
    error_code,
    error_text,
    transient,
)
from pump_mysql.statements import insert_statement

L = logging.getLogger(__name__)

TABLE_KEY = "mysql_sink_table"

#: One statement's work: its SQL, its rows (argument tuples or mappings), their batch indexes.
Work = tuple[str, list[Any], list[int]]


class MySQLSinkConfig(pump.ComponentConfig):
    """Settings of a MySQLSink."""

    table: str = Field(
        "",
        description="Table to write to, `name` or `db.name` (per event: context mysql_sink_table)",
        examples=["orders"],
    )
    mode: Literal["insert", "upsert", "replace"] = Field(
        "insert", description="insert; upsert (INSERT … ON DUPLICATE KEY UPDATE); replace (REPLACE)"
    )
    columns: list[str] = Field(
        default_factory=list,
        description=(
            "Columns written, from the event's keys of these names (a missing key is NULL); empty: "
            "every key of each event"
        ),
    )
    update_columns: list[str] = Field(
        default_factory=list,
        description="upsert: columns set on a duplicate key; empty: every column written",
    )
    statement: str = Field(
        "",
        description=(
            "Custom statement with named parameters %(key)s from each event (instead of table, "
            "mode and columns)"
        ),
        examples=["INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)"],
    )
    check_table: bool = Field(
        True, description="At start, check that the table (and the columns) exist"
    )
    ordered: bool | None = Field(
        None,
        description=(
            "Commit batches one at a time, in the order written; default: for upsert, replace "
            "and custom statements (their result depends on the order), not for insert"
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> MySQLSinkConfig:
        problems = []
        if self.statement:
            for key in ("table", "columns", "update_columns"):
                if getattr(self, key):
                    problems.append(
                        f"key '{key}': not used with 'statement' (give one or the other)"
                    )
            if self.mode != "insert":
                problems.append("key 'mode': not used with 'statement' (write the clause in it)")
        if self.update_columns and self.mode != "upsert":
            problems.append("key 'update_columns': only with mode 'upsert'")
        for key in ("columns", "update_columns"):
            if any(not c for c in getattr(self, key)):
                problems.append(f"key '{key}': an empty column name")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MySQLSink(pump.Sink):
    """Writes each event (a mapping of column → value) as a row; done once committed."""

    ConfigModel = MySQLSinkConfig
    Config: MySQLSinkConfig

    rows_committed = pump.Counter("Rows committed to the server")
    transactions = pump.Counter("Transactions committed (one per batch)")
    rows_refused = pump.Counter("Rows the server refused, handed to the error policy")
    isolations = pump.Counter("Batches written again row-isolating after the server refused a row")

    def __init__(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        connection: str | MySQLConnection,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, MySQLConnection, where=self)
        config_ = self.Config
        self._statements: dict[tuple[str, tuple[str, ...]], str] = {}
        self._columns = tuple(config_.columns)
        self._getter: Callable[[Any], Any] | None = None
        ordered = config_.ordered
        if ordered is None:
            ordered = config_.mode != "insert" or bool(config_.statement)
        # the commit of the batch written last: an ordered batch waits for it before its own
        self._last_commit: asyncio.Future[None] | None = None
        self._ordered = ordered
        if len(self._columns) > 1:
            self._getter = operator.itemgetter(*self._columns)
        elif self._columns:
            (column,) = self._columns
            self._getter = lambda event: (event[column],)

    # -- writing ----------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Build the batch's statements now; the awaitable completes once they are committed."""
        errors: dict[int, BaseException] = {}
        if self.Config.statement:
            work = self._custom_work(events, errors)
        else:
            work = self._insert_work(events, contexts, errors)
        if not self._ordered:
            return self._commit(work, errors, len(events))
        previous = self._last_commit
        done = self._last_commit = asyncio.get_running_loop().create_future()
        return self._commit_after(previous, done, work, errors, len(events))

    async def _commit_after(
        self,
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
        work: list[Work],
        errors: dict[int, BaseException],
        count: int,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.shield(previous)  # its outcome is its own batch's business
            await self._commit(work, errors, count)
        finally:
            done.set_result(None)

    def _custom_work(self, events: list[Any], errors: dict[int, BaseException]) -> list[Work]:
        rows: list[Any] = []
        positions: list[int] = []
        for i, event in enumerate(events):
            if isinstance(event, Mapping):
                rows.append(event)
                positions.append(i)
            else:
                errors[i] = self._not_a_row(event)
        return [(self.Config.statement, rows, positions)] if rows else []

    def _insert_work(
        self,
        events: list[Any],
        contexts: Sequence[dict[str, Any]],
        errors: dict[int, BaseException],
    ) -> list[Work]:
        default_table = self.Config.table
        getter, columns = self._getter, self._columns
        if getter is not None and default_table and not any(TABLE_KEY in c for c in contexts):
            # the common case: one table, configured columns, every event has them
            try:
                rows = [getter(event) for event in events]
            except (KeyError, TypeError):  # a key missing, an event that is not a mapping
                pass
            else:
                statement = self._statement(default_table, columns)
                return [(statement, rows, list(range(len(rows))))]
        groups: dict[tuple[str, tuple[str, ...]], tuple[list[Any], list[int]]] = {}
        for i, (event, context) in enumerate(zip(events, contexts, strict=True)):
            table = context.get(TABLE_KEY) or default_table
            if not table:
                errors[i] = pump.PermanentWriteError(
                    f"{self.location()}: no table for the event: set key 'table' or the "
                    f"context key '{TABLE_KEY}'"
                )
                continue
            if not isinstance(event, Mapping):
                errors[i] = self._not_a_row(event)
                continue
            if getter is not None:
                try:
                    row = getter(event)
                except KeyError:  # a missing column is NULL (or the column's default refusal)
                    row = tuple(event.get(c) for c in columns)
                key = (table, columns)
            else:
                key = (table, tuple(event))
                row = tuple(event.values())
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [])
            group[0].append(row)
            group[1].append(i)
        return [
            (self._statement(*key), rows, positions) for key, (rows, positions) in groups.items()
        ]

    def _statement(self, table: str, columns: tuple[str, ...]) -> str:
        key = (table, columns)
        sql = self._statements.get(key)
        if sql is None:
            config = self.Config
            sql = insert_statement(table, columns, config.mode, config.update_columns)
            if len(self._statements) < 1000:  # per-event tables: keep the cache bounded
                self._statements[key] = sql
        return sql

    def _not_a_row(self, event: Any) -> pump.PermanentWriteError:
        return pump.PermanentWriteError(
            f"{self.location()}: cannot write a {type(event).__name__} as a row "
            "(events must be mappings of column name → value)"
        )

    async def _commit(self, work: list[Work], errors: dict[int, BaseException], count: int) -> None:
        if work:
            try:
                async with self.Connection.acquire() as conn:
                    await self._transaction(conn, work, errors)
            except MySQLError:
                raise
            except Exception as exc:
                raise self._batch_failure(exc) from exc
        if errors:
            self.rows_refused += len(errors)
            if len(errors) == count and count == 1:
                raise next(iter(errors.values()))
            raise pump.PartialWriteError(errors)

    async def _transaction(
        self, conn: aiomysql.Connection, work: list[Work], errors: dict[int, BaseException]
    ) -> None:
        """One transaction for the batch: all at once, or row-isolating if a row is refused."""
        async with conn.cursor() as cursor:
            try:
                for sql, rows, _positions in work:
                    await cursor.executemany(sql, rows)
            except Exception as exc:
                if transient(exc) or not _row_level(exc):
                    await _rollback(conn, exc)
                    raise
                await conn.rollback()
                self.isolations += 1
                for sql, rows, positions in work:
                    await self._isolate(cursor, sql, rows, positions, errors)
            await conn.commit()
        self.transactions += 1
        refused = sum(isinstance(e, MySQLRowError) for e in errors.values())
        self.rows_committed += sum(len(rows) for _sql, rows, _positions in work) - refused

    async def _isolate(
        self,
        cursor: aiomysql.Cursor,
        sql: str,
        rows: list[Any],
        positions: list[int],
        errors: dict[int, BaseException],
    ) -> None:
        """Write `rows` under a savepoint; on a refusal, each half alone, down to single rows."""
        await cursor.execute("SAVEPOINT pump_rows")
        try:
            await cursor.executemany(sql, rows)
        except Exception as exc:
            if transient(exc) or not _row_level(exc):
                raise
            await cursor.execute("ROLLBACK TO SAVEPOINT pump_rows")
            if len(rows) == 1:
                errors[positions[0]] = self._row_error(exc)
                return
            half = len(rows) // 2
            await self._isolate(cursor, sql, rows[:half], positions[:half], errors)
            await self._isolate(cursor, sql, rows[half:], positions[half:], errors)

    def _row_error(self, exc: BaseException) -> MySQLRowError:
        code = error_code(exc) or 0
        text = error_text(exc)
        where = f"error {code}" if code else type(exc).__name__
        error = MySQLRowError(
            f"{self.location()}: the server refused the row ({where}: {text})", code, text
        )
        error.__cause__ = exc
        return error

    def _batch_failure(self, exc: BaseException) -> MySQLError:
        """A transient error of the whole batch: the pipeline writes it again."""
        detail = self.Connection.describe_error(exc)
        if transient(exc):
            return MySQLConnectionError(
                f"{self.location()}: batch not committed ({detail}); it will be written again"
            )
        return MySQLError(f"{self.location()}: batch not committed ({detail})")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check that the table and columns exist: a clear error now, not per write."""
        config = self.Config
        if not config.table or not config.check_table:
            return
        await self.Connection.check_table(
            self.location(), config.table, self._columns, "key 'columns'"
        )


def _row_level(exc: BaseException) -> bool:
    """True when `exc` is about the rows sent (server refusal, a value that cannot be sent)."""
    return isinstance(exc, pymysql.err.MySQLError | TypeError | ValueError | KeyError)


async def _rollback(conn: aiomysql.Connection, cause: BaseException) -> None:
    try:
        await conn.rollback()
    except Exception:
        L.debug("rollback after %r failed", cause, exc_info=True)
        conn.close()
