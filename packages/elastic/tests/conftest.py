"""Fixtures: the cluster the tests use — the protocol-level test server, or a real cluster.

With PUMP_ELASTICSEARCH_URL set the tests run against that cluster (fault-injection tests are
skipped there: only the test server can inject faults); otherwise against
`pump_elastic.testing.ElasticsearchTestServer`, started once per test session in a thread.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

import pump
from pump.testing import BatchRecord, CollectingSink, HarnessSource, wait_until
from pump_elastic import ElasticsearchConnection, ElasticsearchSink
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
        return {
            "url": self.url,
            "retries": 2,
            "reconnect_delay": 0.01,
            "reconnect_delay_max": 0.05,
            **overrides,
        }

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
        hits = helpers.scan(
            self.client, index=index, query={"query": {"match_all": {}}}, ignore_unavailable=True
        )
        return {h["_id"]: h["_source"] for h in hits}

    def put(self, index: str, docs: dict[str, dict[str, Any]]) -> None:
        """Index documents by id, visible at once."""
        helpers.bulk(
            self.client,
            ({"_index": index, "_id": k, "_source": v} for k, v in docs.items()),
            refresh=True,
        )


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


class SinkRun:
    """What became of the events fed to one sink run."""

    def __init__(
        self,
        pipeline: pump.Pipeline,
        source: HarnessSource,
        sink: ElasticsearchSink,
        dead: CollectingSink,
    ) -> None:
        self.pipeline = pipeline
        self.source = source
        self.sink = sink
        self.dead = dead

    @property
    def statuses(self) -> list[str]:
        return [r.status for r in self.source.records]

    def dead_letters(self) -> list[dict[str, Any]]:
        return list(self.dead.events)


async def run_sink(
    cluster: Any,
    pairs: list[tuple[dict[str, Any] | None, Any]],
    sink_config: dict[str, Any],
    *,
    pipeline_config: dict[str, Any] | None = None,
    connection_config: dict[str, Any] | None = None,
    batch_size: int = 50,
    timeout: float = 20.0,
    **sink_kwargs: Any,
) -> SinkRun:
    """Feed `pairs` through a sink into the cluster; returns once every batch settled."""
    app = pump.Application(exit_when_finished=False)
    app.add_connection(
        ElasticsearchConnection(
            app, "es", config=cluster.connection_config(**(connection_config or {}))
        )
    )
    pipeline = pump.Pipeline(
        app,
        "es_sink",
        config={
            "on_error": "dead_letter",
            "retry_backoff": 0.01,
            "retry_backoff_max": 0.05,
            **(pipeline_config or {}),
        },
    )
    source = HarnessSource(app, pipeline, "in", batch_size=batch_size, shared_context=False)
    sink = ElasticsearchSink(app, pipeline, "es", "out", config=sink_config, **sink_kwargs)
    dead = CollectingSink(app, pipeline, "dead")
    pipeline.build(source, sink)
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    source.feed(pairs)
    await app.start()
    try:
        settled = await wait_until(
            lambda: all(r.status != BatchRecord.PENDING for r in source.records), timeout
        )
        assert settled, (
            f"batches not settled: {[r.status for r in source.records]}, errors "
            f"{[e.as_dict()['error'] for e in pipeline.errors]}"
        )
    finally:
        await app.stop(timeout=5)
    return SinkRun(pipeline, source, sink, dead)


@pytest.fixture
def sink_run() -> Callable[..., Any]:
    """`await sink_run(es, pairs, sink_config, ...)`: a SinkRun once every batch settled."""
    return run_sink
