"""MySQLBinlogSource: change data capture from the binary log (BSPump's MySQLBinaryLogSource).

The server's row events (insert, update, delete) are read as a replica does, with
mysql-replication's `BinLogStreamReader`, in a thread of their own (the library blocks).
Each committed transaction is handed over as one batch (or several of at most `batch_size`
rows): an event is a dict `{"type", "schema", "table", "before", "after"}`. The position —
binary log file and offset after a transaction's commit, and its GTID — is saved to
`position_file` once every batch up to it is done, so after a restart reading resumes at
the first transaction not done (on MariaDB by its GTID, on MySQL by file and offset): nothing
skipped; a transaction cut by a crash is read again whole. Without a saved position, reading
starts at the server's current end of the log.
The server needs `log_bin` on, `binlog_format=ROW` and `binlog_row_metadata=FULL` (the
column names); `start()` says which is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import GtidEvent, MariadbGtidEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

import pump
from pump.delivery import Batch, PositionTrail
from pump_mysql.connection import MySQLConnection
from pump_mysql.errors import MySQLError
from pump_mysql.position import PositionFile

L = logging.getLogger(__name__)

SCHEMA_KEY = "mysql_schema"
TABLE_KEY = "mysql_table"
FILE_KEY = "mysql_binlog_file"
POSITION_KEY = "mysql_binlog_position"
GTID_KEY = "mysql_gtid"

#: What the reader thread hands over: events, contexts, and the commit position (or None).
Chunk = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]


class MySQLBinlogSourceConfig(pump.ComponentConfig):
    """Settings of a MySQLBinlogSource."""

    position_file: str = Field(
        "",
        description="File keeping the binary log position of the events done (required)",
        examples=["/var/lib/pump/binlog.pos"],
    )
    server_id: int = Field(
        54321,
        ge=1,
        le=4294967295,
        description="Replica server id this source uses; unique among the server's replicas",
    )
    only_schemas: list[str] = Field(
        default_factory=list, description="Databases whose changes are read (empty: all)"
    )
    only_tables: list[str] = Field(
        default_factory=list, description="Tables whose changes are read (empty: all)"
    )
    batch_size: int = Field(
        500, gt=0, description="Most row changes handed over at once (a batch ends at each commit)"
    )
    queue_size: int = Field(8, gt=0, description="Batches read ahead of the pipeline")

    @model_validator(mode="after")
    def _required(self) -> MySQLBinlogSourceConfig:
        if not self.position_file:
            raise ValueError("key 'position_file': required")
        return self


class MySQLBinlogSource(pump.Source):
    """Row changes from the binary log, in commit order, resumable from a saved position."""

    ConfigModel = MySQLBinlogSourceConfig
    Config: MySQLBinlogSourceConfig

    changes_read = pump.Counter("Row changes read from the binary log and handed over")
    positions_saved = pump.Counter("Times the position of the changes done was saved")

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
        self._store = PositionFile(self.Config.position_file)
        #: The position of the changes done (saved): file, position, gtid.
        self.saved_position: dict[str, Any] | None = None
        self._start_at: dict[str, Any] | None = None
        self._mariadb = False
        self._trail = PositionTrail()
        self._stream: BinLogStreamReader | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the server's binary log settings; load the saved position."""
        try:
            self.saved_position = self._store.load()
        except (OSError, ValueError, TypeError) as exc:
            raise MySQLError(
                f"{self.location()}: key 'position_file': cannot read the saved position "
                f"({type(exc).__name__}: {exc}); fix or remove the file"
            ) from None
        async with self.Connection.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT VERSION(), @@log_bin, @@binlog_format")
            version, log_bin, binlog_format = await cursor.fetchone()
            await cursor.execute("SHOW VARIABLES LIKE 'binlog_row_metadata'")
            metadata = await cursor.fetchone()
            await cursor.execute("SHOW MASTER STATUS")
            status = await cursor.fetchone()
            gtid_position = None
            if "mariadb" in str(version).lower():
                await cursor.execute("SELECT @@gtid_binlog_pos")
                (gtid_position,) = await cursor.fetchone()
            await conn.rollback()
        self._mariadb = "mariadb" in str(version).lower()
        problems = []
        if not log_bin:
            problems.append("the binary log is off (start the server with --log-bin)")
        if str(binlog_format).upper() != "ROW":
            problems.append(f"binlog_format is {binlog_format}, not ROW")
        if metadata is None or str(metadata[1]).upper() != "FULL":
            problems.append("binlog_row_metadata is not FULL (the events would lack column names)")
        if problems:
            raise MySQLError(f"{self.location()}: cannot read changes: {'; '.join(problems)}")
        if self.saved_position is not None:
            self._start_at = self.saved_position
        elif status is not None:
            self._start_at = {"file": status[0], "position": int(status[1]), "gtid": gtid_position}

    # -- reading ------------------------------------------------------------------------------

    async def main(self) -> None:
        """Run the reader thread; hand over what it reads, as the pipeline is ready."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue(self.Config.queue_size)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read, args=(loop, queue, stop), name=f"pump-binlog-{self.Id}", daemon=True
        )
        reader.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                events, contexts, commit = item
                # a transaction without rows of interest only marks its commit
                handle = self._trail.hand_over(len(events), commit)
                if handle is None:
                    continue
                self.changes_read += len(events)
                await self.emit(events, contexts=contexts, token=handle)
        finally:
            stop.set()
            _interrupt(self._stream)  # the blocked read in the thread ends; the thread closes it
            while not queue.empty():  # a thread waiting to put must see the stop
                queue.get_nowait()
            await asyncio.to_thread(reader.join, 10.0)

    def _read(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Chunk | BaseException],
        stop: threading.Event,
    ) -> None:
        """The reader thread: binary log events → chunks on `queue` (blocks while it is full)."""

        def put(item: Chunk | BaseException) -> bool:
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            while not stop.is_set():
                try:
                    future.result(timeout=0.2)
                    return True
                except TimeoutError:
                    continue
            future.cancel()
            return False

        try:
            self._stream_events(put, stop)
        except Exception as exc:
            if not stop.is_set():
                put(
                    MySQLError(
                        f"{self.location()}: reading the binary log failed: "
                        f"{self.Connection.describe_error(exc)}"
                    )
                )
        finally:
            stream, self._stream = self._stream, None
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def _stream_events(self, put: Any, stop: threading.Event) -> None:
        config = self.Connection.Config
        start = self._start_at or {}
        self._stream = stream = BinLogStreamReader(
            connection_settings={
                "host": config.host,
                "port": config.port,
                "user": config.user,
                "password": config.password.get_secret_value(),
                "charset": config.charset,
            },
            server_id=self.Config.server_id,
            blocking=True,
            resume_stream=bool(start),
            log_file=start.get("file"),
            log_pos=start.get("position"),
            # MariaDB's replication resumes by GTID (the library ignores log_pos there)
            auto_position=(start.get("gtid") or "") if self._mariadb else None,
            only_events=[
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
                XidEvent,
                MariadbGtidEvent,
                GtidEvent,
            ],
            only_schemas=self.Config.only_schemas or None,
            only_tables=self.Config.only_tables or None,
            is_mariadb=self._mariadb,
        )
        events: list[dict[str, Any]] = []
        contexts: list[dict[str, Any]] = []
        gtid = start.get("gtid")
        size = self.Config.batch_size
        for event in stream:
            if stop.is_set():
                return
            if isinstance(event, MariadbGtidEvent | GtidEvent):
                gtid = event.gtid
                continue
            if isinstance(event, XidEvent):
                commit = {"file": stream.log_file, "position": event.packet.log_pos, "gtid": gtid}
                if not put((events, contexts, commit)):
                    return
                events, contexts = [], []
                continue
            kind = _KINDS[type(event)]
            where = {
                SCHEMA_KEY: event.schema,
                TABLE_KEY: event.table,
                FILE_KEY: stream.log_file,
                POSITION_KEY: event.packet.log_pos,
                GTID_KEY: gtid,
            }
            for row in event.rows:
                if kind == "update":
                    before, after = row["before_values"], row["after_values"]
                elif kind == "insert":
                    before, after = None, row["values"]
                else:
                    before, after = row["values"], None
                events.append(
                    {
                        "type": kind,
                        "schema": event.schema,
                        "table": event.table,
                        "before": before,
                        "after": after,
                    }
                )
                contexts.append(dict(where))
            if len(events) >= size:
                if not put((events, contexts, None)):
                    return
                events, contexts = [], []

    # -- delivery ---------------------------------------------------------------------------

    def acknowledge(self, batch: Batch) -> None:
        """Every change of `batch` is done: save the commit position of the done prefix."""
        if batch.token is None:
            return
        position = self._trail.done(batch.token)
        if position is not None:
            self._store.save(position)
            self.saved_position = position
            self.positions_saved += 1


_KINDS = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


def _interrupt(stream: BinLogStreamReader | None) -> None:
    """Wake a read blocked on the replication socket (closing it from here would block)."""
    connection = getattr(stream, "_stream_connection", None)
    sock = getattr(connection, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
