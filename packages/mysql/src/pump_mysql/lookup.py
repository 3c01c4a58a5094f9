"""MySQLLookup: key → row of a table, read with `await lookup.get(key)`, cached, loaded in batches.

Keys asked for at about the same time (the events of a batch, `get_many`) are loaded with
one `SELECT … WHERE key IN (…)` of up to `batch_max` keys, not one query each. Rows and
absences are cached (`cache_size`, `cache_ttl`). `reload()` empties the cache once the
server answered (during an outage the cached rows stay); it runs every `reload_interval`
seconds and on each `reload_message` published on the application's PubSub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aiomysql
from pydantic import Field, model_validator

import pump
from pump.lookup import AsyncLookupConfig, AsyncLookupMixin
from pump_mysql.connection import MySQLConnection
from pump_mysql.statements import quote, quote_column

L = logging.getLogger(__name__)


class MySQLLookupConfig(AsyncLookupConfig):
    """Settings of a MySQLLookup."""

    table: str = Field(
        "", description="Table to read, `name` or `db.name` (required)", examples=["customers"]
    )
    key_column: str = Field(
        "",
        description="Column the key is matched against, best a unique key (required)",
        examples=["id"],
    )
    columns: list[str] = Field(
        default_factory=list, description="Columns of the value (a dict); empty: every column"
    )
    batch_max: int = Field(500, gt=0, description="Most keys loaded by one query")
    reload_message: str = Field(
        "",
        description="PubSub message that reloads the lookup (empty: none)",
        examples=["Application.tick/60!"],
    )

    @model_validator(mode="after")
    def _required(self) -> MySQLLookupConfig:
        missing = [
            f"key '{key}': required" for key in ("table", "key_column") if not getattr(self, key)
        ]
        if missing:
            raise ValueError("; ".join(missing))
        return self


class MySQLLookup(AsyncLookupMixin):
    """Rows of a table by key; the value is the row as a dict (None when there is none)."""

    ConfigModel = MySQLLookupConfig
    Config: MySQLLookupConfig

    queries = pump.Counter("Queries that loaded keys")
    keys_loaded = pump.Counter("Keys asked of the server")

    def __init__(
        self,
        app: pump.Application,
        connection: str | MySQLConnection,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, id, config)
        self.Connection = app.locate_connection(connection, MySQLConnection, where=self)
        config_ = self.Config
        columns = list(config_.columns)
        #: The key column is read to match rows to keys, but is part of the value only if asked.
        self._drop_key = bool(columns) and config_.key_column not in columns
        if self._drop_key:
            columns.append(config_.key_column)
        selected = ", ".join(quote_column(c) for c in columns) or "*"
        key = quote_column(config_.key_column)
        self._select = f"SELECT {selected} FROM {quote(config_.table)} WHERE {key} IN "
        self._key = config_.key_column
        self._waiting: dict[Any, asyncio.Future[Any]] = {}
        self._loader: asyncio.Task[None] | None = None
        self._warn = pump.RateLimitedLog(L, interval=10.0)
        if config_.reload_message:
            app.PubSub.subscribe(config_.reload_message, self._reload_message)

    async def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """The rows of many keys (absent keys are left out), loaded together."""
        keys = list(dict.fromkeys(keys))
        values = await asyncio.gather(*(self.get(key) for key in keys))
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    async def fetch(self, key: Any) -> Any:
        """The row of `key`, loaded with the other keys asked for meanwhile."""
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            if self._loader is None:
                self._loader = asyncio.get_running_loop().create_task(self._load_waiting())
        return await future

    async def _load_waiting(self) -> None:
        try:
            await asyncio.sleep(0)  # the gets of this moment join the first query
            while self._waiting:
                keys = list(self._waiting)[: self.Config.batch_max]
                futures = [self._waiting.pop(key) for key in keys]
                try:
                    rows = await self.load_keys(keys)
                except Exception as exc:
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, future in zip(keys, futures, strict=True):
                    if not future.done():
                        future.set_result(rows.get(key))
        finally:
            self._loader = None

    async def load_keys(self, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        """key → row for those of `keys` the table has, in one query."""
        sql = self._select + "(" + ", ".join(["%s"] * len(keys)) + ")"
        self.queries += 1
        self.keys_loaded += len(keys)
        async with self.Connection.acquire() as conn:
            async with conn.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(sql, keys)
                rows = await cursor.fetchall()
            await conn.rollback()  # end the read snapshot: later loads see changes
        key = self._key
        if self._drop_key:
            return {row.pop(key): row for row in rows}
        return {row[key]: row for row in rows}

    async def reload(self) -> bool:
        """Empty the cache once the server answered (else LookupLoadError; the cache stays)."""
        try:
            async with self.Connection.acquire() as conn, conn.cursor() as cursor:
                await cursor.execute(f"{self._select}(NULL)")
                await conn.rollback()
        except Exception as exc:
            self.load_error = exc
            raise pump.LookupLoadError(
                f"{self.location()}: cannot reload: {self.Connection.describe_error(exc)}"
            ) from exc
        return await super().reload()

    def _reload_message(self, _message: str, *_args: Any, **_kwargs: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_logged())
        task.add_done_callback(_retrieve)

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except pump.LookupLoadError as exc:
            self._warn.warning("%s", exc)

    async def stop(self) -> None:
        """Fail the keys still waiting, then stop as every async lookup does."""
        loader, self._loader = self._loader, None
        if loader is not None:
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        await super().stop()


def _retrieve(task: asyncio.Task[Any]) -> None:
    # keep asyncio from warning about an error nobody awaited
    if not task.cancelled():
        task.exception()
