"""ElasticsearchSink: every data feeder, context overrides, index templates, ordering by id."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from pump.testing import BatchRecord


def _events(n: int, **extra: Any) -> list[tuple[None, dict[str, Any]]]:
    return [(None, {"_id": f"d{i}", "n": i, "text": f"event {i}", **extra}) for i in range(n)]


async def test_create_or_index_indexes_by_id_and_creates_without(es: Any, sink_run: Any) -> None:
    index = es.index()
    pairs = _events(120) + [(None, {"n": 1000 + i, "auto": True}) for i in range(30)]
    run = await sink_run(es, pairs, {"index": index})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    docs = es.docs(index)
    assert len(docs) == 150
    assert docs["d7"] == {"n": 7, "text": "event 7"}, "the _id field is taken out of the document"
    given = {f"d{i}" for i in range(120)}
    autos = [d for k, d in docs.items() if k not in given]
    assert sorted(d["n"] for d in autos) == list(range(1000, 1030))
    assert run.pipeline.metrics()["events_out"] == 150


async def test_index_overwrites_and_create_leaves_the_existing_document(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    await sink_run(es, _events(10), {"index": index, "data_feeder": "index"})
    changed = [(None, {"_id": f"d{i}", "n": -i}) for i in range(10)]
    run = await sink_run(es, changed, {"index": index, "data_feeder": "create"})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}, "409 on create counts as done"
    assert es.docs(index)["d3"]["n"] == 3, "create must not overwrite"
    run = await sink_run(es, changed, {"index": index, "data_feeder": "index"})
    assert es.docs(index)["d3"] == {"n": -3}


async def test_create_conflict_is_an_error_when_configured(es: Any, sink_run: Any) -> None:
    index = es.index()
    await sink_run(es, _events(5), {"index": index})
    run = await sink_run(
        es, _events(5), {"index": index, "data_feeder": "create", "on_conflict": "error"}
    )
    dead = run.dead_letters()
    assert len(dead) == 5
    assert "409 version_conflict_engine_exception" in dead[0]["error"]


async def test_update_merges_and_upserts(es: Any, sink_run: Any) -> None:
    index = es.index()
    await sink_run(es, [(None, {"_id": "a", "x": 1, "y": 1})], {"index": index})
    pairs = [(None, {"_id": "a", "y": 2}), (None, {"_id": "b", "y": 3})]
    run = await sink_run(es, pairs, {"index": index, "data_feeder": "update"})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.docs(index) == {"a": {"x": 1, "y": 2}, "b": {"y": 3}}


async def test_update_of_a_missing_document_without_upsert_is_dead_lettered(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    await sink_run(es, [(None, {"_id": "a", "x": 1})], {"index": index})
    pairs = [(None, {"_id": "a", "x": 2}), (None, {"_id": "missing", "x": 3})]
    run = await sink_run(
        es, pairs, {"index": index, "data_feeder": "update", "doc_as_upsert": False}
    )
    dead = run.dead_letters()
    assert [d["event"] for d in dead] == [{"_id": "missing", "x": 3}]
    assert "404 document_missing_exception" in dead[0]["error"]
    assert es.docs(index) == {"a": {"x": 2}}


async def test_delete_removes_and_a_missing_document_is_fine(es: Any, sink_run: Any) -> None:
    index = es.index()
    await sink_run(es, _events(4), {"index": index})
    pairs = [(None, {"_id": "d1"}), (None, {"_id": "d3"}), (None, {"_id": "never"})]
    run = await sink_run(es, pairs, {"index": index, "data_feeder": "delete"})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert sorted(es.docs(index)) == ["d0", "d2"]


async def test_delete_without_an_id_goes_to_the_error_policy(es: Any, sink_run: Any) -> None:
    index = es.index()
    run = await sink_run(es, [(None, {"n": 1})], {"index": index, "data_feeder": "delete"})
    assert "delete needs a document id" in run.dead_letters()[0]["error"]


async def test_update_without_an_id_is_refused_with_or_without_routing(es: Any, sink_run: Any) -> None:
    index = es.index()
    pairs = [(None, {"n": 1}), ({"es_routing": "r"}, {"n": 2})]
    run = await sink_run(es, pairs, {"index": index, "data_feeder": "update"})
    dead = run.dead_letters()
    assert len(dead) == 2 and all("update needs a document id" in d["error"] for d in dead)
    assert es.docs(index) == {}


def custom_feeder(context: dict[str, Any], event: Any) -> tuple[dict[str, Any], Any]:
    """Index under the event's `key`, into the index named by the event's `kind`."""
    return {"index": {"_index": f"{event['kind']}-custom", "_id": event["key"]}}, {"v": event["v"]}


async def test_custom_feeder_callable_and_by_name(es: Any, sink_run: Any) -> None:
    kind = es.index("kind")
    pairs = [(None, {"kind": kind, "key": f"k{i}", "v": i}) for i in range(6)]
    run = await sink_run(es, pairs, {"index": "unused"}, data_feeder=custom_feeder)
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.docs(f"{kind}-custom")["k4"] == {"v": 4}
    kind2 = es.index("kind")
    pairs = [(None, {"kind": kind2, "key": "z", "v": 9})]
    await sink_run(es, pairs, {"index": "unused", "data_feeder": f"{__name__}:custom_feeder"})
    assert es.docs(f"{kind2}-custom") == {"z": {"v": 9}}


async def test_context_overrides_index_id_op_and_routing(es: Any, sink_run: Any) -> None:
    index, other = es.index(), es.index()
    pairs = [
        ({"es_index": other, "es_id": "ctx"}, {"n": 1}),
        ({"es_op": "create"}, {"_id": "c", "n": 2}),
        ({"es_routing": "r1"}, {"_id": "r", "n": 3}),
    ]
    run = await sink_run(es, pairs, {"index": index})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.docs(other) == {"ctx": {"n": 1}}
    assert es.docs(index) == {"c": {"n": 2}, "r": {"n": 3}}


async def test_time_templated_index_from_the_event_time_and_now(es: Any, sink_run: Any) -> None:
    prefix = es.index("logs")
    pairs = [
        (None, {"@timestamp": "2024-03-05T10:00:00Z", "n": 1}),
        (None, {"@timestamp": 1709856000, "n": 2}),  # 2024-03-08 epoch seconds
        (None, {"n": 3}),
    ]
    run = await sink_run(es, pairs, {"index": prefix + "-{%Y.%m.%d}", "time_field": "@timestamp"})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert [d["n"] for d in es.docs(prefix + "-2024.03.05").values()] == [1]
    assert [d["n"] for d in es.docs(prefix + "-2024.03.08").values()] == [2]
    today = time.strftime("%Y.%m.%d", time.gmtime())
    assert [d["n"] for d in es.docs(f"{prefix}-{today}").values()] == [3]


async def test_json_text_events_are_indexed_as_they_are(es: Any, sink_run: Any) -> None:
    index = es.index()
    pairs = [
        ({"es_id": "t1"}, orjson.dumps({"a": 1})),
        ({"es_id": "t2"}, '{"b": 2}'),
        ({"es_id": "t3"}, b'{"c":\n 3}'),
        (None, b"[1, 2]"),
    ]
    run = await sink_run(es, pairs, {"index": index})
    assert es.docs(index) == {"t1": {"a": 1}, "t2": {"b": 2}, "t3": {"c": 3}}
    dead = run.dead_letters()
    assert len(dead) == 1 and "not an object" in dead[0]["error"]


async def test_operations_on_one_id_keep_their_order_across_concurrent_bulks(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    # 20 versions of 10 documents; tiny bulks, many in flight: the last version must win
    pairs = [(None, {"_id": f"k{i % 10}", "version": i}) for i in range(200)]
    es.faults.delay(0.002, path="_bulk")
    run = await sink_run(
        es, pairs, {"index": index, "bulk_max_actions": 7, "max_concurrent_bulks": 8}, batch_size=13
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    docs = es.docs(index)
    assert {k: v["version"] for k, v in docs.items()} == {f"k{j}": 190 + j for j in range(10)}


async def test_bulks_are_bounded_by_count_and_bytes(es: Any, sink_run: Any) -> None:
    index = es.index()
    run = await sink_run(es, _events(100), {"index": index, "bulk_max_actions": 10}, batch_size=100)
    assert run.sink.bulks_sent == 10
    big = [(None, {"_id": f"b{i}", "pad": "x" * 1000}) for i in range(20)]
    run = await sink_run(es, big, {"index": index, "bulk_max_bytes": 4000}, batch_size=20)
    assert run.sink.bulks_sent >= 5, "about 3 documents of 1 kB fit in 4000 bytes"
    assert len(es.docs(index)) == 120


async def test_refresh_is_passed_on(es: Any, sink_run: Any) -> None:
    index = es.index()
    run = await sink_run(es, _events(3), {"index": index, "refresh": "wait_for"})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert len(es.docs(index)) == 3


@pytest.mark.parametrize("bad", ["Upper", "_under", "a b", "x*"])
def test_invalid_index_names_are_refused_in_the_config(bad: str) -> None:
    from pydantic import ValidationError

    from pump_elastic.sink import ElasticsearchSinkConfig

    with pytest.raises(ValidationError, match="index"):
        ElasticsearchSinkConfig(index=bad)
