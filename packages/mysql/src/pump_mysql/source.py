"""MySQLSource: a query run on triggers, its rows streamed with a server-side cursor.

Each cycle (a trigger fired) runs the query on a connection of the pool and reads its rows
with an unbuffered cursor (`SSDictCursor`), `batch_size` at a time, each batch handed over
when the pipeline is ready: memory stays bounded whatever the result's size. An event is a
row as a dict, column → value.

In *incremental* mode (an `incrementing_column`, a `timestamp_column`, or both, as in Kafka
Connect's JDBC source) each cycle reads only the rows past the position, in the order of
those columns. The position is saved to `position_file` (replaced atomically) once every
batch up to it is done — never past a batch still in flight or failed — so after a restart
nothing done is read again and nothing is skipped. With a timestamp column, rows newer than
the server's clock minus `timestamp_delay` wait for a later cycle, so that a transaction
still open with an older timestamp is not skipped; a timestamp alone cannot tell apart rows
of one timestamp, so a row whose timestamp equals the saved one is skipped: add an
incrementing column to be exact.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

import aiomysql
from pydantic import Field, model_validator

import pump
from pump.delivery import Batch, PositionTrail
from pump.trigger import TriggerSourceConfig
from pump_mysql.connection import MySQLConnection
from pump_mysql.errors import MySQLError, MySQLSchemaError
from pump_mysql.position import PositionFile
from pump_mysql.statements import quote, quote_column

L = logging.getLogger(__name__)

TABLE_KEY = "mysql_table"
POSITION_KEY = "mysql_position"


class MySQLSourceConfig(TriggerSourceConfig):
    """Settings of a MySQLSource."""

    table: str = Field(
        "", description="Table to read, `name` or `db.name` (or give 'query')", examples=["orders"]
    )
    query: str = Field(
        "",
        description="SELECT to run instead of a whole table (incremental mode wraps it)",
        examples=["SELECT id, total FROM orders WHERE total > 0"],
    )
    incrementing_column: str = Field(
        "", description="Incremental mode: a strictly increasing column (e.g. an AUTO_INCREMENT id)"
    )
    timestamp_column: str = Field(
        "", description="Incremental mode: a column set to the time of each insert or update"
    )
    timestamp_delay: float = Field(
        0.0,
        ge=0,
        description=(
            "Incremental mode: read rows only older than the server's clock minus this many seconds"
        ),
    )
    position_file: str = Field(
        "",
        description="Incremental mode: file keeping the position of the rows done (required there)",
        examples=["/var/lib/pump/orders.pos"],
    )
    batch_size: int = Field(1000, gt=0, description="Rows read and handed over at once")

    @model_validator(mode="after")
    def _consistent(self) -> MySQLSourceConfig:
        problems = []
        if bool(self.table) == bool(self.query):
            problems.append("key 'table' or 'query': give exactly one of them")
        incremental = bool(self.incrementing_column or self.timestamp_column)
        if incremental and not self.position_file:
            problems.append("key 'position_file': required in incremental mode")
        if self.position_file and not incremental:
            problems.append(
                "key 'position_file': only in incremental mode "
                "(give incrementing_column and/or timestamp_column)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MySQLSource(pump.TriggerSource):
    """Reads the rows of a table or query on each trigger; incrementally with a saved position."""

    ConfigModel = MySQLSourceConfig
    Config: MySQLSourceConfig

    rows_read = pump.Counter("Rows read from the server and handed over")
    positions_saved = pump.Counter("Times the position of the rows done was saved")

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
        self._columns = [c for c in (config_.timestamp_column, config_.incrementing_column) if c]
        self._store = PositionFile(config_.position_file) if config_.position_file else None
        #: Where the next cycle reads from (the last row handed over), column → value.
        self.position: dict[str, Any] | None = None
        #: The position of the rows done (saved).
        self.saved_position: dict[str, Any] | None = None
        self._trail = PositionTrail()

    @property
    def incremental(self) -> bool:
        """True when the source reads only rows past its position."""
        return bool(self._columns)

    # -- reading ----------------------------------------------------------------------------

    async def cycle(self) -> None:
        """Run the query and hand its rows over, `batch_size` at a time."""
        async with self.Connection.acquire() as conn:
            try:
                sql, args = await self._statement(conn)
                cursor = await conn.cursor(aiomysql.SSDictCursor)
                await cursor.execute(sql, args)
                size = self.Config.batch_size
                while True:
                    rows = await cursor.fetchmany(size)
                    if not rows:
                        break
                    await self._emit_rows(rows)
                await cursor.close()
                await conn.rollback()  # end the read snapshot: the next cycle sees new rows
            except BaseException:
                conn.close()  # an unread result: the connection cannot be used again
                raise

    async def _statement(self, conn: aiomysql.Connection) -> tuple[str, list[Any]]:
        config = self.Config
        if not self.incremental:
            return (config.query or f"SELECT * FROM {quote(config.table)}"), []
        base = (
            f"SELECT * FROM ({config.query}) AS pump_query"
            if config.query
            else f"SELECT * FROM {quote(config.table)}"
        )
        conditions: list[str] = []
        args: list[Any] = []
        position = self.position
        ts, inc = config.timestamp_column, config.incrementing_column
        if ts:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT NOW(6)")
                (now,) = await cursor.fetchone()
            conditions.append(f"{quote_column(ts)} < %s")
            args.append(now - datetime.timedelta(seconds=config.timestamp_delay))
        if position is not None:
            if ts and inc:
                conditions.append(
                    f"({quote_column(ts)} > %s OR "
                    f"({quote_column(ts)} = %s AND {quote_column(inc)} > %s))"
                )
                args += [position[ts], position[ts], position[inc]]
            else:
                column = ts or inc
                conditions.append(f"{quote_column(column)} > %s")
                args.append(position[column])
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        order = ", ".join(quote_column(c) for c in self._columns)
        return f"{base}{where} ORDER BY {order}", args

    async def _emit_rows(self, rows: list[dict[str, Any]]) -> None:
        table = self.Config.table
        self.rows_read += len(rows)
        if not self.incremental:
            await self.emit(rows, {TABLE_KEY: table})
            return
        columns = self._columns
        try:
            positions = [{c: row[c] for c in columns} for row in rows]
        except KeyError as exc:
            raise MySQLSchemaError(
                f"{self.location()}: the rows have no column {exc} "
                "(keys incrementing_column, timestamp_column)"
            ) from None
        contexts = [{TABLE_KEY: table, POSITION_KEY: p} for p in positions]
        handle = self._trail.hand_over(len(rows), positions[-1])
        await self.emit(rows, contexts=contexts, token=handle)
        self.position = positions[-1]  # only once handed over: a failed hand-over reads them again

    # -- delivery ---------------------------------------------------------------------------

    def acknowledge(self, batch: Batch) -> None:
        """Every row of `batch` is done: save the position of the done prefix."""
        if self._store is None or batch.token is None:
            return
        position = self._trail.done(batch.token)
        if position is not None:
            self._store.save(position)
            self.saved_position = position
            self.positions_saved += 1

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the saved position; check the table and its columns exist."""
        await super().start()
        if self._store is not None:
            try:
                self.saved_position = self._store.load()
            except (OSError, ValueError, TypeError) as exc:
                raise MySQLError(
                    f"{self.location()}: key 'position_file': cannot read the saved position "
                    f"({type(exc).__name__}: {exc}); fix or remove the file"
                ) from None
            if self.saved_position is not None and set(self.saved_position) != set(self._columns):
                raise MySQLError(
                    f"{self.location()}: key 'position_file': the saved position is of columns "
                    f"{sorted(self.saved_position)}, not {sorted(self._columns)}"
                )
            self.position = self.saved_position
        if self.Config.table:
            await self.Connection.check_table(
                self.location(),
                self.Config.table,
                self._columns,
                "keys incrementing_column/timestamp_column",
            )
