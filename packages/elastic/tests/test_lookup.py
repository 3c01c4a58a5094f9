"""ElasticsearchLookup: by id or field, cached with TTL and size, keys batched; LookupContract."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pump
from pump.testing import LookupContract
from pump_elastic import ElasticsearchConnection, ElasticsearchLookup


def _lookup(es: Any, app: pump.Application, connection_retries: int = 2, **config: Any) -> Any:
    if "es" not in app.Connections:
        app.add_connection(
            ElasticsearchConnection(
                app, "es", config=es.connection_config(retries=connection_retries)
            )
        )
    return ElasticsearchLookup(app, "es", "users", config=config)


async def test_by_id_and_by_field_with_batched_requests(es: Any) -> None:
    index = es.index()
    es.put(index, {f"u{i}": {"name": f"user {i}", "email": f"u{i}@x.org"} for i in range(50)})
    app = pump.Application()
    by_id = _lookup(es, app, index=index)
    await by_id.start()
    found = await by_id.get_many([f"u{i}" for i in range(40)] + ["nobody"])
    assert found["u7"] == {"name": "user 7", "email": "u7@x.org"} and found["nobody"] is None
    assert by_id.fetches == 1, "41 keys asked together: one mget"
    by_field = ElasticsearchLookup(
        app, "es", "emails", config={"index": index, "key_field": "email"}
    )
    values = await asyncio.gather(*(by_field.get(f"u{i}@x.org") for i in range(10)))
    assert [v["name"] for v in values] == [f"user {i}" for i in range(10)]
    assert by_field.fetches == 1, "10 concurrent gets: one msearch"
    await by_id.stop()


async def test_cache_ttl_and_size(es: Any) -> None:
    index = es.index()
    es.put(index, {"k": {"v": 1}})
    app = pump.Application()
    lookup = _lookup(es, app, index=index, cache_ttl=0.2, cache_size=2)
    assert await lookup.get("k") == {"v": 1}
    es.put(index, {"k": {"v": 2}})
    assert await lookup.get("k") == {"v": 1}, "served from the cache"
    assert lookup.fetches == 1
    await asyncio.sleep(0.25)
    assert await lookup.get("k") == {"v": 2}, "fetched again after the TTL"
    await lookup.get_many(["a", "b", "c"])
    assert lookup.cached() == 2, "the cache keeps at most cache_size entries"


async def test_a_reload_during_an_outage_keeps_the_cached_entries(es: Any) -> None:
    index = es.index()
    es.put(index, {"k": {"v": 1}})
    app = pump.Application()
    lookup = _lookup(es, app, index=index, connection_retries=0)
    assert await lookup.get("k") == {"v": 1}
    es.faults.fail_requests(503, count=None)
    with pytest.raises(pump.LookupLoadError, match="cannot reload"):
        await lookup.reload()
    assert await lookup.get("k") == {"v": 1}, "the cached entry is still served"
    es.faults.clear()
    es.put(index, {"k": {"v": 2}})
    assert await lookup.reload() is True
    assert await lookup.get("k") == {"v": 2}


class Prefix(ElasticsearchLookup):
    def build_find_one_query(self, key: Any) -> dict[str, Any]:
        return {"bool": {"filter": [{"term": {"code": key.upper()}}]}}


async def test_build_find_one_query_can_be_overridden(es: Any) -> None:
    index = es.index()
    es.put(index, {"x": {"code": "ABC", "v": 3}})
    app = pump.Application()
    app.add_connection(ElasticsearchConnection(app, "es", config=es.connection_config()))
    lookup = Prefix(app, "es", "p", config={"index": index, "key_field": "code"})
    assert await lookup.get("abc") == {"code": "ABC", "v": 3}


class TestElasticsearchLookupContract(LookupContract):
    expected = {"alpha": {"n": 1}, "beta": {"n": 2}}
    expected_is_complete = True

    @pytest.fixture(autouse=True)
    def _cluster(self, es: Any) -> None:
        self.es = es

    def prepare(self) -> None:
        self.index = self.es.index("lookup")
        self.es.put(self.index, dict(self.expected))

    def make_lookup(self, app: pump.Application) -> ElasticsearchLookup:
        return _lookup(self.es, app, index=self.index)

    def change(self) -> dict[str, Any]:
        self.es.client.delete(index=self.index, id="beta", refresh=True)
        self.es.put(self.index, {"alpha": {"n": 10}, "gamma": {"n": 3}})
        return {"alpha": {"n": 10}, "gamma": {"n": 3}}

    def break_provider(self) -> None:
        # the index is gone: the next reload's count fails, and the cached documents must stay
        self.es.client.indices.delete(index=self.index)
