"""ElasticsearchSource: runs a query on each trigger and hands over every hit, page by page.

Paging uses a point in time and `search_after`
(https://www.elastic.co/guide/en/elasticsearch/reference/current/paginate-search-results.html),
not scroll. In follow mode the source reads new documents by a sort field and a tiebreaker,
and saves its position only once the events before it are done.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

import pump
from pump.trigger import TriggerSourceConfig
from pump_elastic.connection import ElasticsearchConnection
from pump_elastic.position import SavedPosition

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

#: The most hits one search may return (the index.max_result_window default).
MAX_PAGE = 10_000


class ElasticsearchSourceConfig(TriggerSourceConfig):
    """Settings of an ElasticsearchSource."""

    index: str = Field(
        "",
        min_length=1,
        validate_default=True,
        description="Index, pattern or comma-separated list to read",
    )
    query: dict[str, Any] = Field(
        default_factory=dict,
        description="Query DSL object ({}: match_all)",
        examples=[{"range": {"@timestamp": {"gte": "now-1d"}}}],
    )
    sort: list[Any] = Field(
        default_factory=list, description="Sort of the hits ([]: index order, _shard_doc)"
    )
    size: int = Field(1000, gt=0, le=MAX_PAGE, description="Hits per page (one batch each)")
    keep_alive: str = Field("1m", description="How long the point in time lives between pages")
    follow_field: str = Field(
        "", description="Follow mode: read only documents past the saved position, by this field"
    )
    tiebreaker_field: str = Field(
        "", description="Follow mode: a unique field ordering documents with equal follow_field"
    )
    position_file: str = Field("", description="Follow mode: file keeping the position (JSON)")

    @model_validator(mode="after")
    def _follow(self) -> ElasticsearchSourceConfig:
        if self.follow_field and not (self.tiebreaker_field and self.position_file):
            raise ValueError("follow mode (follow_field) needs tiebreaker_field and position_file")
        return self


class ElasticsearchSource(pump.TriggerSource):
    """Reads all hits of a query on each trigger (BSPump's ElasticSearchSource).

    Each page is one batch; the events are the hits' `_source`, and each context holds the
    hit's `_index`, `_id` and `_sort` (its sort values). Without follow mode each cycle reads
    the whole result through a point in time. With `follow_field` (e.g. `@timestamp`) and
    `tiebreaker_field` each cycle reads only documents sorted after the position, which is
    saved to `position_file` once every event before it is done: a restart neither repeats
    done documents nor skips any.
    """

    ConfigModel = ElasticsearchSourceConfig
    Config: ElasticsearchSourceConfig

    pages = pump.Counter("Result pages read from Elasticsearch")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: ElasticsearchConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, ElasticsearchConnection, where=self)
        cfg = self.Config
        self.saved = SavedPosition(cfg.position_file) if cfg.follow_field else None
        self.position: list[Any] | None = None  # done: saved
        self._read_after: list[Any] | None = None  # read: ahead of the position
        self._tracker = pump.CommitTracker()
        self._pages: dict[int, list[Any]] = {}
        self._page = 0

    async def start(self) -> None:
        """Load the saved position (follow mode)."""
        await super().start()
        if self.saved is not None:
            loaded = self.saved.load()
            if loaded is not None and not isinstance(loaded, list):
                raise pump.ConfigError(
                    self.location(),
                    [f"key 'position_file': {self.Config.position_file} holds no sort values"],
                )
            self.position = self._read_after = loaded

    async def cycle(self) -> None:
        """Read every hit (follow mode: every hit past the position) and hand them over."""
        if self.saved is not None:
            await self._follow()
        else:
            await self._read_all()

    async def _read_all(self) -> None:
        cfg = self.Config
        connection = self.Connection
        where = self.location()
        opened = await connection.api(
            "open_point_in_time", index=cfg.index, keep_alive=cfg.keep_alive, where=where
        )
        pit_id = opened["id"]
        try:
            after: list[Any] | None = None
            sort = cfg.sort or ["_shard_doc"]
            while True:
                pit = {"id": pit_id, "keep_alive": cfg.keep_alive}
                found = await connection.api(
                    "search",
                    pit=pit,
                    query=cfg.query or {"match_all": {}},
                    sort=sort,
                    size=cfg.size,
                    search_after=after,
                    track_total_hits=False,
                    where=where,
                )
                pit_id = found.get("pit_id", pit_id)
                hits = found["hits"]["hits"]
                if not hits:
                    return
                await self._emit(hits, None)
                after = hits[-1]["sort"]
                if len(hits) < cfg.size:
                    return
        finally:
            try:
                await connection.api("close_point_in_time", id=pit_id, retries=0, where=where)
            except Exception as exc:  # it expires after keep_alive anyway
                L.warning("%s: closing the point in time failed: %s", self.location(), exc)

    async def _follow(self) -> None:
        cfg = self.Config
        sort = [{cfg.follow_field: "asc"}, {cfg.tiebreaker_field: "asc"}]
        while True:
            after = self._read_after
            found = await self.Connection.api(
                "search",
                index=cfg.index,
                query=cfg.query or {"match_all": {}},
                sort=sort,
                size=cfg.size,
                search_after=after,
                track_total_hits=False,
                where=self.location(),
            )
            hits = found["hits"]["hits"]
            if not hits:
                return
            self._page += 1
            page = self._page
            self._pages[page] = hits[-1]["sort"]
            self._read_after = hits[-1]["sort"]
            await self._emit(hits, self._tracker.begin(0, page, page))
            if len(hits) < cfg.size:
                return

    async def _emit(self, hits: list[dict[str, Any]], token: Any) -> None:
        self.pages += 1
        events = [hit.get("_source", {}) for hit in hits]
        contexts = [
            {"_index": hit["_index"], "_id": hit["_id"], "_sort": hit.get("sort")} for hit in hits
        ]
        await self.emit(events, contexts=contexts, token=token)

    def acknowledge(self, batch: pump.Batch) -> None:
        """A page is done: advance and save the position over the done prefix (follow mode)."""
        if self.saved is None or batch.token is None:
            return
        self._tracker.end(batch.token)
        done = self._tracker.committable().get(0)
        if done is None:
            return
        last = done - 1
        position = self._pages.get(last)
        for page in [p for p in self._pages if p <= last]:
            del self._pages[page]
        if position is not None:
            self.position = position
            self.saved.save(position)

    def reject(self, batch: pump.Batch) -> None:
        """A page failed: the position stays before it; read again from the position."""
        if self.saved is not None:
            self._read_after = self.position
