"""ElasticsearchLookup: key → document from an index, cached, with concurrent gets batched.

Keys are looked up by document id with one multi get
(https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-multi-get.html), or by a
field with one multi search of term queries
(https://www.elastic.co/guide/en/elasticsearch/reference/current/search-multi-search.html).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

import pump
from pump.lookup import AsyncLookupConfig
from pump_elastic.connection import ElasticsearchConnection

if TYPE_CHECKING:
    from pump import Application


class ElasticsearchLookupConfig(AsyncLookupConfig):
    """Settings of an ElasticsearchLookup (and its cache)."""

    index: str = Field(
        "",
        min_length=1,
        validate_default=True,
        description="Index (or alias, pattern) holding the entries",
    )
    key_field: str = Field(
        "_id", description="Field the key is matched on ('_id': the document id, read by mget)"
    )
    batch_max: int = Field(500, gt=0, description="Keys fetched in one mget/msearch at most")


class ElasticsearchLookup(pump.AsyncLookupMixin):
    """`await lookup.get(key)` gives the `_source` of the document whose `key_field` is `key`.

    Entries are cached (`cache_size`, `cache_ttl`); absences too. Keys requested at the same
    time (e.g. by `get_many` or concurrent `get`s) are fetched together in one request. Override
    `build_find_one_query(key)` to match keys differently (BSPump's hook). `reload()` empties the
    cache only when the cluster answers, so an outage keeps the cached entries.
    """

    ConfigModel = ElasticsearchLookupConfig
    Config: ElasticsearchLookupConfig

    fetches = pump.Counter("Requests made to Elasticsearch for lookup keys")

    def __init__(
        self,
        app: Application,
        connection: ElasticsearchConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, id, config)
        self.Connection = app.locate_connection(connection, ElasticsearchConnection, where=self)
        self._queued: dict[Any, asyncio.Future[Any]] = {}
        self._flush: asyncio.Handle | None = None

    def build_find_one_query(self, key: Any) -> dict[str, Any]:
        """The query finding the document of `key` (a term query on `key_field`)."""
        return {"term": {self.Config.key_field: key}}

    async def fetch(self, key: Any) -> Any:
        """The entry of one key, fetched together with the other keys asked for meanwhile."""
        future = self._queued.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._queued[key] = loop.create_future()
            if self._flush is None:
                self._flush = loop.call_soon(self._start_batch)
        return await asyncio.shield(future)

    async def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """key → entry (None when absent) of many keys, in as few requests as batch_max allows."""
        wanted = list(dict.fromkeys(keys))
        values = await asyncio.gather(*(self.get(k) for k in wanted))
        return dict(zip(wanted, values, strict=True))

    def _start_batch(self) -> None:
        self._flush = None
        queued, self._queued = self._queued, {}
        limit = self.Config.batch_max
        keys = list(queued)
        for start in range(0, len(keys), limit):
            part = {k: queued[k] for k in keys[start : start + limit]}
            task = asyncio.get_running_loop().create_task(self._fetch_batch(part))
            task.add_done_callback(_retrieve)

    async def _fetch_batch(self, futures: dict[Any, asyncio.Future[Any]]) -> None:
        try:
            found = await self._load(list(futures))
        except BaseException as exc:
            error = (
                exc
                if isinstance(exc, Exception)
                else pump.LookupLoadError(f"{self.location()}: fetching was cancelled")
            )
            for future in futures.values():
                if not future.done():
                    future.set_exception(error)
            raise
        for key, future in futures.items():
            if not future.done():
                future.set_result(found.get(key))

    async def _load(self, keys: list[Any]) -> dict[Any, Any]:
        cfg = self.Config
        self.fetches += 1
        where = self.location()
        default_query = type(self).build_find_one_query is ElasticsearchLookup.build_find_one_query
        if cfg.key_field == "_id" and default_query:
            ids = [str(k) for k in keys]
            answer = await self.Connection.api("mget", index=cfg.index, ids=ids, where=where)
            by_id = {d["_id"]: d.get("_source") for d in answer["docs"] if d.get("found")}
            return {k: by_id.get(str(k)) for k in keys}
        searches: list[dict[str, Any]] = []
        for key in keys:
            searches.append({"index": cfg.index})
            searches.append({"query": self.build_find_one_query(key), "size": 1})
        answer = await self.Connection.api("msearch", searches=searches, where=where)
        out: dict[Any, Any] = {}
        for key, response in zip(keys, answer["responses"], strict=True):
            if "error" in response:
                error = response["error"]
                raise pump.LookupLoadError(
                    f"{where}: looking up {key!r} failed: "
                    f"{error.get('type')}: {error.get('reason')}"
                )
            hits = response["hits"]["hits"]
            out[key] = hits[0].get("_source") if hits else None
        return out

    async def reload(self) -> bool:
        """Empty the cache, once the cluster answered (else LookupLoadError; the cache stays)."""
        try:
            await self.Connection.api("count", index=self.Config.index, where=self.location())
        except Exception as exc:
            self.load_error = exc
            raise pump.LookupLoadError(
                f"{self.location()}: cannot reload: {self.Connection.explain(exc)}"
            ) from exc
        return await super().reload()


def _retrieve(task: asyncio.Task[Any]) -> None:
    # the waiting gets see the error; this keeps asyncio from logging it as never retrieved
    if not task.cancelled():
        task.exception()


__all__ = ["ElasticsearchLookup", "ElasticsearchLookupConfig"]
