"""DataFrameSQLSink: frames (and dict events) appended to a table with DataFrame.to_sql."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import Field, SecretStr

from pump.config import ComponentConfig
from pump.errors import ConfigError, PartialWriteError, PermanentWriteError
from pump.metrics import Counter
from pump.sink import Sink

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pump.application import Application
    from pump.pipeline import Pipeline


class DataFrameSQLSinkConfig(ComponentConfig):
    """Settings of the SQL sink."""

    url: str = Field(
        "",
        min_length=1,
        validate_default=True,
        description="SQLAlchemy database URL, without the password (that is `password`)",
        examples=["sqlite:///out.db", "mysql+pymysql://pump@db.example/shop"],
    )
    password: SecretStr = Field(SecretStr(""), description="Password (a secret: masked everywhere)")
    table: str = Field(
        "",
        min_length=1,
        validate_default=True,
        description="Table the rows are appended to (made if missing)",
    )
    schema_name: str = Field("", description="Schema (database) of the table; empty: the URL's")
    insert_rows: int = Field(1000, gt=0, description="Rows per INSERT (to_sql's chunksize)")
    method: Literal["executemany", "multi"] = Field(
        "executemany",
        description="executemany: the driver's executemany of one row's INSERT; multi: one "
        "INSERT with insert_rows VALUES rows",
    )


#: Errors of the rows themselves (a duplicate key, a value the column refuses, a column the
#: table lacks in some databases): the same rows fail again, so they fail for good.
_PERMANENT_NAMES = ("IntegrityError", "DataError", "ProgrammingError", "NotSupportedError")


class DataFrameSQLSink(Sink):
    """Appends each DataFrame event's rows to a table, in a transaction per write (needs
    `pip install "pump-pandas[sql]"` and the database's driver).

    A write is acknowledged once its transaction is committed. Rows the database refuses (a
    duplicate key, a value the column cannot hold) fail for good — each DataFrame event alone,
    and among dict events, each row alone: the others of the batch are written. Anything else
    (the server gone, a lock wait) fails the whole write, which nothing committed, and the
    pipeline retries it. At least once: a commit whose answer is lost is written again.
    """

    ConfigModel = DataFrameSQLSinkConfig
    Config: DataFrameSQLSinkConfig

    rows_written = Counter("Rows committed into the table")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        if importlib.util.find_spec("sqlalchemy") is None:
            raise ConfigError(
                self.location(), ["the SQL sink needs SQLAlchemy: pip install 'pump-pandas[sql]'"]
            )
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        c = self.Config
        try:
            url = make_url(c.url)
            if c.password.get_secret_value():
                url = url.set(password=c.password.get_secret_value())
            self.Engine: Engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ValueError) as exc:
            # the URL's own text may hold a password: name only what is wrong with it
            raise ConfigError(
                self.location(), [f"key 'url': {type(exc).__name__}: {_without_url(exc)}"]
            ) from None

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Append the rows in a worker thread; done once committed."""
        parts: list[tuple[list[int], pd.DataFrame]] = []
        errors: dict[int, BaseException] = {}
        rows: list[int] = []
        for i, event in enumerate(events):
            if isinstance(event, pd.DataFrame):
                parts.append(([i], event))
            elif isinstance(event, Mapping):
                rows.append(i)
            else:
                errors[i] = PermanentWriteError(
                    f"{self.location()}: a table row is made from a DataFrame or a dict event, "
                    f"not {type(event).__name__}"
                )
        if rows:
            parts.append((rows, pd.DataFrame([events[i] for i in rows])))
        return self._write(parts, errors, len(events))

    async def _write(
        self,
        parts: list[tuple[list[int], pd.DataFrame]],
        errors: dict[int, BaseException],
        n: int,
    ) -> None:
        if parts:
            errors.update(await asyncio.to_thread(self._insert, parts))
        if errors:
            raise errors[min(errors)] if len(errors) == n == 1 else PartialWriteError(errors)

    # -- worker thread --------------------------------------------------------------------

    def _insert(self, parts: list[tuple[list[int], pd.DataFrame]]) -> dict[int, BaseException]:
        """Append every part in one transaction; if rows are refused, each event (each row
        of dict events) on its own, so only the refused ones fail. Errors by event index."""
        try:
            self._commit([frame for _, frame in parts])
            return {}
        except Exception as exc:
            if not _permanent(exc):
                # nothing was committed: the pipeline retries the whole write
                raise _short(exc) from None
        failed: dict[int, BaseException] = {}
        gone: BaseException | None = None  # the database failed meanwhile: retry the rest
        todo = list(reversed(parts))
        while todo:
            members, frame = todo.pop()
            if gone is not None:
                failed.update(dict.fromkeys(members, gone))
                continue
            try:
                self._commit([frame])
            except Exception as exc:
                if not _permanent(exc):
                    gone = _short(exc)
                    failed.update(dict.fromkeys(members, gone))
                elif len(members) > 1:  # rows of dict events: halves, until the refused are alone
                    mid = len(members) // 2
                    todo += [(members[mid:], frame.iloc[mid:]), (members[:mid], frame.iloc[:mid])]
                else:
                    failed[members[0]] = PermanentWriteError.wrap(self.location(), _short(exc))
        return failed

    def _commit(self, frames: list[pd.DataFrame]) -> None:
        c = self.Config
        with self.Engine.begin() as connection:
            for frame in frames:
                frame.to_sql(
                    c.table,
                    connection,
                    schema=c.schema_name or None,
                    if_exists="append",
                    index=False,
                    chunksize=c.insert_rows,
                    method="multi" if c.method == "multi" else None,
                )
        self.rows_written += sum(len(f) for f in frames)

    async def stop(self) -> None:
        """Close the connections."""
        await asyncio.to_thread(self.Engine.dispose)


def _database_error(exc: BaseException) -> BaseException:
    """The SQLAlchemy error under pandas' `DatabaseError` (pandas wraps what it executes)."""
    from sqlalchemy.exc import StatementError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StatementError):
            return seen
        seen = seen.__cause__
    return exc


def _permanent(exc: BaseException) -> bool:
    """True for an error of the rows, not of the database's availability."""
    from sqlalchemy.exc import DBAPIError, StatementError

    exc = _database_error(exc)
    if isinstance(exc, DBAPIError):
        return not exc.connection_invalidated and type(exc).__name__ in _PERMANENT_NAMES
    # a value the driver cannot send, a frame pandas cannot make a table of
    return isinstance(exc, (StatementError, TypeError, ValueError))


def _short(exc: BaseException) -> BaseException:
    """The database's own error, without the statement and the rows' values SQLAlchemy and
    pandas add to it (they would put the data into logs)."""
    from sqlalchemy.exc import StatementError

    exc = _database_error(exc)
    if isinstance(exc, StatementError) and exc.orig is not None:
        return exc.orig
    return exc


def _without_url(exc: BaseException) -> str:
    text = str(exc)
    return text.split("'", 1)[0].strip() or type(exc).__name__
