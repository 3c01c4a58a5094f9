"""Fixtures: the cluster the tests use — the protocol-level test server, or a real cluster.

With PUMP_ELASTICSEARCH_URL set the tests run against that cluster (fault-injection tests are
skipped there: only the test server can inject faults); otherwise against
`pump_elastic.testing.ElasticsearchTestServer`, started once per test session in a thread.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from pump_elastic.testing import ElasticsearchTestServer, Faults

URL_VARIABLE = "PUMP_ELASTICSEARCH_URL"


class Cluster:
    """Where the tests write, and how they read back what arrived."""

    def __init__(self, url: str, server: ElasticsearchTestServer | None) -> None:
        self.url = url
        self.server = server
        self._client: Elasticsearch | None = None

    @property
    def faults(self) -> Faults:
        """The test server's fault injection (a test needing it is skipped on a real cluster)."""
        if self.server is None:
            pytest.skip("fault injection needs the protocol-level test server")
        return self.server.faults

    def index(self, prefix: str = "pump-test") -> str:
        """A fresh index name."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def connection_config(self, **overrides: Any) -> dict[str, Any]:
        """A connection config for this cluster, with quick retries."""
        return {"url": self.url, "retries": 2, "retry_backoff": 0.01, "retry_backoff_max": 0.05,
                **overrides}

    @property
    def client(self) -> Elasticsearch:
        """A synchronous client, for reading back."""
        if self._client is None:
            self._client = Elasticsearch(self.url)
        return self._client

    def docs(self, index: str) -> dict[str, dict[str, Any]]:
        """id → source of every document in `index` (pattern allowed)."""
        if self.server is not None:
            return {doc_id: source for _i, doc_id, source in self.server.documents(index)}
        self.client.indices.refresh(index=index, ignore_unavailable=True)
        found = self.client.search(index=index, size=10_000, query={"match_all": {}},
                                   ignore_unavailable=True)
        return {h["_id"]: h["_source"] for h in found["hits"]["hits"]}

    def put(self, index: str, docs: dict[str, dict[str, Any]]) -> None:
        """Index documents by id, visible at once."""
        from elasticsearch import helpers

        helpers.bulk(self.client, ({"_index": index, "_id": k, "_source": v} for k, v in docs.items()),
                     refresh=True)


@pytest.fixture(scope="session")
def _cluster() -> Iterator[Cluster]:
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield Cluster(url, None)
        return
    server = ElasticsearchTestServer()
    url = server.start_in_thread()
    try:
        yield Cluster(url, server)
    finally:
        server.stop_thread()


@pytest.fixture
def es(_cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, with no fault rule left over from another test."""
    if _cluster.server is not None:
        _cluster.server.faults.clear()
    yield _cluster
    if _cluster.server is not None:
        _cluster.server.faults.clear()
