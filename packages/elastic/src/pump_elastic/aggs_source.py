"""ElasticsearchAggsSource: an aggregation run on each trigger; its buckets become flat events.

Composite aggregations are paged with `after_key`
(https://www.elastic.co/guide/en/elasticsearch/reference/current/
search-aggregations-bucket-composite-aggregation.html).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

import pump
from pump.trigger import TriggerSourceConfig
from pump_elastic.connection import ElasticsearchConnection

if TYPE_CHECKING:
    from pump import Application, Pipeline

#: Keys of a bucket that are not sub-aggregations.
BUCKET_KEYS = frozenset(
    {"key", "key_as_string", "doc_count", "from", "to", "from_as_string", "to_as_string"}
)


class ElasticsearchAggsSourceConfig(TriggerSourceConfig):
    """Settings of an ElasticsearchAggsSource."""

    index: str = Field(
        "",
        min_length=1,
        validate_default=True,
        description="Index, pattern or comma-separated list (required)",
    )
    query: dict[str, Any] = Field(default_factory=dict, description="Query DSL object ({}: all)")
    aggs: dict[str, Any] = Field(
        default_factory=dict,
        min_length=1,
        validate_default=True,
        description="The aggregations (the search API's `aggs` object)",
        examples=[
            {"hosts": {"terms": {"field": "host"}, "aggs": {"bytes": {"sum": {"field": "bytes"}}}}}
        ],
    )
    max_pages: int = Field(
        1000, gt=0, description="Composite aggregations: most pages read per cycle"
    )


def flatten(
    aggregations: Mapping[str, Any], path: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One flat dict per leaf bucket: the keys of the buckets above it, its doc_count and the
    metric values on its way (BSPump's `process_buckets`).

    A bucket's key is stored under its aggregation's name (`key_as_string` when there is one);
    a composite bucket's key dict is merged in. A metric (`{"value": x}`) is stored under its
    name; a level without bucket aggregations gives one event.
    """
    row = dict(path or {})
    buckets: list[tuple[str, Any]] = []
    for name, agg in aggregations.items():
        if not isinstance(agg, Mapping):
            continue
        if "buckets" in agg:
            buckets.append((name, agg["buckets"]))
        elif "value" in agg:
            row[name] = agg.get("value_as_string", agg["value"])
        elif "doc_count" in agg:  # a single-bucket aggregation (filter, missing, ...)
            buckets.append((name, [dict(agg, key=name)]))
    if not buckets:
        return [row]
    out: list[dict[str, Any]] = []
    for name, items in buckets:
        pairs = items.items() if isinstance(items, Mapping) else ((None, b) for b in items)
        for keyed, bucket in pairs:
            below = dict(row)
            key = bucket.get("key", keyed)
            if isinstance(key, Mapping):
                below.update(key)
            else:
                below[name] = bucket.get("key_as_string", key)
            below["doc_count"] = bucket.get("doc_count")
            sub = {k: v for k, v in bucket.items() if k not in BUCKET_KEYS}
            out.extend(flatten(sub, below))
    return out


class ElasticsearchAggsSource(pump.TriggerSource):
    """Runs a search with `aggs` on each trigger and hands the buckets over as flat events.

    Each leaf bucket becomes one event holding the keys of the buckets above it, its
    `doc_count` and the metric values (see `flatten`). A top-level composite aggregation is
    read page by page with `after_key`, one batch per page; other results are one batch.
    """

    ConfigModel = ElasticsearchAggsSourceConfig
    Config: ElasticsearchAggsSourceConfig

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

    async def cycle(self) -> None:
        """Run the aggregation (every composite page) and emit the flattened buckets."""
        cfg = self.Config
        aggs = copy.deepcopy(cfg.aggs)
        composite = [n for n, a in aggs.items() if isinstance(a, Mapping) and "composite" in a]
        context = {"_index": cfg.index}
        for page in range(cfg.max_pages):
            found = await self.Connection.api(
                "search",
                index=cfg.index,
                query=cfg.query or {"match_all": {}},
                size=0,
                aggs=aggs,
                where=self.location(),
            )
            aggregations = found.get("aggregations") or {}
            paging = []
            for name in composite:
                result = aggregations.get(name) or {}
                after = result.get("after_key")
                if after is not None and result.get("buckets"):
                    aggs[name]["composite"]["after"] = after
                    paging.append(name)
            # after the first page only the composite aggregations still paging are new
            shown = aggregations if page == 0 else {n: aggregations[n] for n in paging}
            events = [e for e in flatten(shown) if e]
            if events:
                await self.emit(events, context)
            if not paging:
                return
            aggs = {n: aggs[n] for n in paging}
