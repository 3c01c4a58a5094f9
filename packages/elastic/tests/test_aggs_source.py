"""ElasticsearchAggsSource: bucket trees flattened into events; composite aggregations paged."""

from __future__ import annotations

from typing import Any

import pump
from pump.testing import CollectingSink, wait_until
from pump_elastic import ElasticsearchAggsSource, ElasticsearchConnection, flatten

HOSTS = ["a", "b", "c"]


def _load(es: Any, index: str) -> None:
    docs = {}
    for i in range(120):
        docs[f"r{i}"] = {
            "host": HOSTS[i % 3],
            "status": 200 if i % 4 else 500,
            "bytes": i,
            "@timestamp": f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z",
        }
    es.put(index, docs)


async def _run(es: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(ElasticsearchConnection(app, "es", config=es.connection_config()))
    pipeline = pump.Pipeline(app, "aggs", config={"on_error": "stop"})
    source = ElasticsearchAggsSource(app, pipeline, "es", "in", config=config)
    source.on(pump.RunOnceTrigger(app))
    sink = CollectingSink(app, pipeline, "out")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        await wait_until(lambda: source.exhausted() and pipeline.in_flight == 0, 20)
    finally:
        await app.stop(timeout=5)
    assert not pipeline.errors, [e.as_dict() for e in pipeline.errors]
    return list(sink.events)


def test_flatten_turns_nested_buckets_and_metrics_into_rows() -> None:
    tree = {
        "hosts": {
            "buckets": [
                {
                    "key": "a",
                    "doc_count": 3,
                    "status": {
                        "buckets": [
                            {"key": 200, "doc_count": 2, "bytes": {"value": 10.0}},
                            {"key": 500, "doc_count": 1, "bytes": {"value": 4.0}},
                        ]
                    },
                },
                {"key": "b", "doc_count": 1, "status": {"buckets": []}},
            ]
        },
        "total": {"value": 14.0},
    }
    assert flatten(tree) == [
        {"total": 14.0, "hosts": "a", "doc_count": 2, "status": 200, "bytes": 10.0},
        {"total": 14.0, "hosts": "a", "doc_count": 1, "status": 500, "bytes": 4.0},
    ]
    composite = {
        "c": {"after_key": {"h": "b"}, "buckets": [{"key": {"h": "a", "s": 200}, "doc_count": 5}]}
    }
    assert flatten(composite) == [{"h": "a", "s": 200, "doc_count": 5}]
    histogram = {
        "t": {"buckets": [{"key": 0, "key_as_string": "1970-01-01T00:00:00.000Z", "doc_count": 1}]}
    }
    assert flatten(histogram) == [{"t": "1970-01-01T00:00:00.000Z", "doc_count": 1}]


async def test_terms_with_a_sub_aggregation_and_a_metric(es: Any) -> None:
    index = es.index()
    _load(es, index)
    events = await _run(
        es,
        {
            "index": index,
            "aggs": {
                "host": {
                    "terms": {"field": "host"},
                    "aggs": {
                        "status": {
                            "terms": {"field": "status"},
                            "aggs": {"bytes": {"sum": {"field": "bytes"}}},
                        },
                    },
                },
            },
        },
    )
    rows = {(e["host"], e["status"]): (e["doc_count"], e["bytes"]) for e in events}
    expected: dict[tuple[str, int], tuple[int, float]] = {}
    for i in range(120):
        key = (HOSTS[i % 3], 200 if i % 4 else 500)
        count, total = expected.get(key, (0, 0.0))
        expected[key] = (count + 1, total + i)
    assert rows == expected


async def test_date_histogram_buckets(es: Any) -> None:
    index = es.index()
    _load(es, index)
    events = await _run(
        es,
        {
            "index": index,
            "aggs": {"minute": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}},
        },
    )
    assert events == [
        {"minute": "2024-05-01T10:00:00.000Z", "doc_count": 60},
        {"minute": "2024-05-01T10:01:00.000Z", "doc_count": 60},
    ]


async def test_composite_aggregation_is_paged_with_after_key(es: Any) -> None:
    index = es.index()
    _load(es, index)
    events = await _run(
        es,
        {
            "index": index,
            "aggs": {
                "pairs": {
                    "composite": {
                        "size": 2,
                        "sources": [
                            {"host": {"terms": {"field": "host"}}},
                            {"status": {"terms": {"field": "status"}}},
                        ],
                    }
                }
            },
        },
    )
    assert [(e["host"], e["status"]) for e in events] == [
        ("a", 200),
        ("a", 500),
        ("b", 200),
        ("b", 500),
        ("c", 200),
        ("c", 500),
    ]
    assert sum(e["doc_count"] for e in events) == 120
