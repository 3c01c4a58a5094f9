"""pump_elastic.testing: the REST subset behaves as the Elasticsearch reference documents it."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, AsyncElasticsearch

from pump_elastic.testing import ElasticsearchTestServer


@pytest.fixture
async def client() -> Any:
    server = ElasticsearchTestServer()
    url = server.start_in_thread()  # its own loop: blocking calls in the tests cannot stall it
    es = AsyncElasticsearch(url)
    yield es, server
    await es.close()
    server.stop_thread()


async def test_queries_of_the_dsl(client: Any) -> None:
    es, _server = client
    docs = [{"n": i, "tag": ["odd" if i % 2 else "even"], "name": f"item {i}"} for i in range(10)]
    for i, doc in enumerate(docs):
        await es.index(index="q", id=str(i), document=doc)

    async def ids(query: dict[str, Any]) -> list[int]:
        found = await es.search(index="q", query=query, sort=[{"n": "asc"}], size=100)
        return [h["_source"]["n"] for h in found["hits"]["hits"]]

    assert await ids({"range": {"n": {"gte": 3, "lt": 6}}}) == [3, 4, 5]
    assert await ids({"terms": {"n": [1, 8, 42]}}) == [1, 8]
    assert await ids({"term": {"tag": "odd"}}) == [1, 3, 5, 7, 9]
    assert await ids({"ids": {"values": ["2", "4"]}}) == [2, 4]
    assert await ids({"match": {"name": "item 7"}}) == list(range(10)), "any word matches"
    assert await ids(
        {
            "bool": {
                "must": [{"range": {"n": {"gt": 2}}}],
                "must_not": [{"term": {"tag": "even"}}],
                "should": [{"term": {"n": 5}}, {"term": {"n": 9}}],
            }
        }
    ) == [3, 5, 7, 9]
    assert await ids({"bool": {"should": [{"term": {"n": 5}}, {"term": {"n": 9}}]}}) == [5, 9]
    assert (await es.count(index="q", query={"exists": {"field": "name"}}))["count"] == 10
    with pytest.raises(ApiError) as caught:
        await es.search(index="q", query={"no_such_query": {}})
    assert caught.value.meta.status == 400


async def test_templates_apply_to_new_indices_and_mapping_errors_are_per_item(client: Any) -> None:
    es, _server = client
    await es.indices.put_index_template(
        name="t",
        index_patterns=["metrics-*"],
        template={"mappings": {"properties": {"v": {"type": "long"}}}},
    )
    result = await es.bulk(
        operations=[
            {"index": {"_index": "metrics-a", "_id": "1"}},
            {"v": "12"},
            {"index": {"_index": "metrics-a", "_id": "2"}},
            {"v": "twelve"},
            {"index": {"_index": "Metrics-B", "_id": "3"}},
            {"v": 1},
            {"index": {"_index": "metrics-a", "_id": "4"}},
            {"_id": "x", "v": 1},
        ]
    )
    statuses = [next(iter(i.values()))["status"] for i in result["items"]]
    types = [next(iter(i.values())).get("error", {}).get("type") for i in result["items"]]
    assert result["errors"] is True
    assert statuses == [201, 400, 400, 400]
    assert types == [
        None,
        "document_parsing_exception",
        "invalid_index_name_exception",
        "document_parsing_exception",
    ]


async def test_every_response_carries_the_product_header(client: Any) -> None:
    _es, server = client
    with urllib.request.urlopen(server.url + "/") as response:
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
        info = orjson.loads(response.read())
    assert info["version"]["number"].startswith("9.") and info["tagline"] == "You Know, for Search"


def test_it_runs_in_a_process_of_its_own_with_faults_set_over_http() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pump_elastic.testing"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        request = urllib.request.Request(
            url + "/_pump_testing/faults",
            method="POST",
            data=orjson.dumps({"kind": "request", "status": 429, "count": 1, "path": "_cluster"}),
        )
        urllib.request.urlopen(request).read()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url + "/_cluster/health")
        assert caught.value.code == 429
        body = orjson.loads(caught.value.read())
        assert body["error"]["type"] == "es_rejected_execution_exception"
        with urllib.request.urlopen(url + "/_cluster/health") as response:
            assert orjson.loads(response.read())["status"] == "green"
    finally:
        process.terminate()
        process.wait(10)
