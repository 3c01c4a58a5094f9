"""ElasticsearchSource: point-in-time paging over every hit, and follow mode surviving a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import pump
from pump.testing import CollectingSink, SourceContract, wait_until
from pump_elastic import ElasticsearchConnection, ElasticsearchSource


def _load(es: Any, index: str, n: int, first: int = 0) -> None:
    docs = {
        f"doc-{i:06d}": {
            "seq": i,
            "@timestamp": 1_700_000_000_000 + (i // 3) * 1000,
            "key": f"doc-{i:06d}",
            "group": i % 4,
        }
        for i in range(first, first + n)
    }
    es.put(index, docs)


async def _read(
    es: Any, config: dict[str, Any], *, fail_after: int | None = None, timeout: float = 60.0
) -> tuple[pump.Pipeline, CollectingSink, ElasticsearchSource]:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(ElasticsearchConnection(app, "es", config=es.connection_config()))
    pipeline = pump.Pipeline(app, "read", config={"on_error": "stop", "sink_retries": 0})
    source = ElasticsearchSource(app, pipeline, "es", "in", config=config)
    source.on(pump.RunOnceTrigger(app))
    sink = CollectingSink(app, pipeline, "out")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    if fail_after is not None:
        original = sink.write

        def write(events: list[Any], contexts: list[dict[str, Any]]) -> Any:
            if len(sink.outputs) + len(events) > fail_after:
                raise RuntimeError("the sink refuses")
            return original(events, contexts)

        sink.write = write  # type: ignore[method-assign]
    await app.start()
    try:
        await wait_until(
            lambda: (source.exhausted() and pipeline.in_flight == 0) or pipeline.is_error(), timeout
        )
    finally:
        await app.stop(timeout=5)
    return pipeline, sink, source


async def test_point_in_time_paging_reads_every_one_of_25k_documents(es: Any) -> None:
    index = es.index()
    _load(es, index, 25_000)
    _pipeline, sink, source = await _read(es, {"index": index, "size": 1000})
    ids = [c["_id"] for c in sink.contexts]
    assert len(ids) == 25_000 and len(set(ids)) == 25_000
    assert source.pages == 25
    first = sink.outputs[0]
    assert first[0]["_index"] == index and isinstance(first[0]["_sort"], list)
    assert first[1]["key"] == first[0]["_id"]
    assert not (await es_open_pits(es)), "the point in time was closed"


async def es_open_pits(es: Any) -> int:
    return len(es.server.store.pits) if es.server is not None else 0


async def test_query_and_sort_are_applied(es: Any) -> None:
    index = es.index()
    _load(es, index, 300)
    _, sink, _ = await _read(
        es, {"index": index, "size": 50, "query": {"term": {"group": 2}}, "sort": [{"seq": "desc"}]}
    )
    seqs = [e["seq"] for e in sink.events]
    assert seqs == sorted((i for i in range(300) if i % 4 == 2), reverse=True)


async def test_follow_mode_position_survives_a_restart_and_reads_only_new_documents(
    es: Any, tmp_path: Path
) -> None:
    index = es.index()
    _load(es, index, 2500)
    position = tmp_path / "position.json"
    config = {
        "index": index,
        "size": 400,
        "follow_field": "@timestamp",
        "tiebreaker_field": "key",
        "position_file": str(position),
    }
    _, sink, _ = await _read(es, config)
    assert [e["seq"] for e in sink.events] == list(range(2500))
    saved = orjson.loads(position.read_bytes())
    assert saved[1] == "doc-002499", "the position is the last done document's sort values"
    _load(es, index, 700, first=2500)
    _, sink, _ = await _read(es, config)
    assert [e["seq"] for e in sink.events] == list(range(2500, 3200)), "only the new ones"
    _, sink, _ = await _read(es, config)
    assert sink.events == []


async def test_follow_mode_position_does_not_pass_events_that_failed(
    es: Any, tmp_path: Path
) -> None:
    index = es.index()
    _load(es, index, 1000)
    position = tmp_path / "position.json"
    config = {
        "index": index,
        "size": 100,
        "follow_field": "@timestamp",
        "tiebreaker_field": "key",
        "position_file": str(position),
    }
    pipeline, _sink, _ = await _read(es, config, fail_after=450)
    assert pipeline.is_error()
    saved = orjson.loads(position.read_bytes())
    assert saved[1] <= "doc-000399", f"the position passed a failed page: {saved}"
    _, again, _ = await _read(es, config)
    seqs = [e["seq"] for e in again.events]
    assert seqs[0] <= 400 and seqs[-1] == 999, "a restart reads from the position on"
    assert set(range(seqs[0], 1000)) == set(seqs)


def test_follow_mode_needs_a_tiebreaker_and_a_position_file() -> None:
    app = pump.Application()
    app.add_connection(ElasticsearchConnection(app, "es"))
    with pytest.raises(pump.ConfigError, match="tiebreaker_field and position_file"):
        ElasticsearchSource(
            app, pump.Pipeline(app, "p"), "es", config={"index": "x", "follow_field": "@timestamp"}
        )


class TestElasticsearchSourceContract(SourceContract):
    """Follow mode: the position is saved only when events are done, so it redelivers."""

    supports_redelivery = True
    expected_context_keys = ("_index", "_id", "_sort")
    bad_configs = ({"size": 0}, {"size": 20_000}, {"index": ""})

    @pytest.fixture(autouse=True)
    def _cluster(self, es: Any, tmp_path: Path) -> None:
        self.es = es
        self.tmp = tmp_path

    def prepare(self) -> None:
        self.index = self.es.index("source")

    def make_source(
        self, app: pump.Application, pipeline: pump.Pipeline, config: Any = None
    ) -> Any:
        if "es" not in app.Connections:
            app.add_connection(
                ElasticsearchConnection(app, "es", config=self.es.connection_config())
            )
        merged = {
            "index": self.index,
            "size": 3,
            "follow_field": "seq",
            "tiebreaker_field": "seq",
            "position_file": str(self.tmp / "position.json"),
            **(config or {}),
        }
        source = ElasticsearchSource(app, pipeline, "es", config=merged)
        source.on(pump.RunOnceTrigger(app))
        return source

    def produce(self, events: list[Any]) -> None:
        self.es.put(
            self.index, {f"{e['run']}-{e['id']:04d}": {**e, "seq": e["id"]} for e in events}
        )

    def decode(self, event: Any) -> Any:
        return {k: v for k, v in event.items() if k != "seq"}
