"""Faults: refused items and requests, a reset mid-bulk, slow answers, a SIGKILLed `pump run`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from pump.testing import BatchRecord
from pump.testing.process import PumpRun

HERE = Path(__file__).resolve().parent


def _events(n: int, ids: bool = True) -> list[tuple[None, dict[str, Any]]]:
    return [(None, {**({"_id": f"d{i}"} if ids else {}), "n": i}) for i in range(n)]


async def test_items_refused_with_429_are_retried_and_nothing_is_lost(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    es.faults.fail_items(429, count=25)
    run = await sink_run(es, _events(200), {"index": index, "item_retry_backoff": 0.01})
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.server.faults.fired["item"] == 25
    assert run.sink.items_retried >= 25
    assert sorted(es.docs(index)) == sorted(f"d{i}" for i in range(200))
    assert not run.dead_letters()


async def test_items_still_refused_after_the_item_retries_are_retried_by_the_pipeline(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    es.faults.fail_items(503, count=12)
    run = await sink_run(
        es, _events(10), {"index": index, "item_retries": 0}, pipeline_config={"sink_retries": -1}
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert len(es.docs(index)) == 10 and not run.dead_letters()


async def test_a_mapping_error_goes_to_the_dead_letter_with_type_and_reason(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    pairs = [
        (None, {"_id": "a", "n": 1}),
        (None, {"_id": "b", "n": "not a number"}),
        (None, {"_id": "c", "n": 3}),
    ]
    run = await sink_run(es, pairs, {"index": index}, batch_size=1)
    assert sorted(es.docs(index)) == ["a", "c"]
    dead = run.dead_letters()
    assert [d["event"] for d in dead] == [{"_id": "b", "n": "not a number"}]
    assert "400 document_parsing_exception" in dead[0]["error"]
    assert "failed to parse field [n] of type [long]" in dead[0]["error"]
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}, "dead-lettered events are done"


async def test_injected_item_errors_of_each_kind_end_acknowledged_or_dead_lettered(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    es.faults.fail_items(400, count=2)
    es.faults.fail_items(409, count=1, op="index")
    es.faults.fail_items(429, count=3)
    # the injected refusals happen once: a pipeline retrying a permanent refusal would write
    # the event, so a dead letter here also shows that permanent refusals are not retried
    run = await sink_run(es, _events(50), {"index": index, "item_retry_backoff": 0.01})
    written = set(es.docs(index))
    dead = {d["event"]["_id"] for d in run.dead_letters()}
    assert written | dead == {f"d{i}" for i in range(50)}, "every event is written or dead-lettered"
    assert not written & dead
    assert len(dead) == 3
    errors = {d["event"]["_id"]: d["error"] for d in run.dead_letters()}
    assert all(f"id {doc_id!r}" in error for doc_id, error in errors.items()), errors
    kinds = sorted(e.split(" refused with ")[1].split(":")[0] for e in errors.values())
    assert kinds == ["400 document_parsing_exception"] * 2 + [
        "409 version_conflict_engine_exception"
    ]
    assert run.sink.items_retried == 3, "only the 429s were retried"


async def test_whole_request_failures_are_retried_without_splitting(es: Any, sink_run: Any) -> None:
    index = es.index()
    es.faults.fail_requests(429, count=2, path="_bulk")
    es.faults.fail_requests(503, count=2, path="_bulk")
    run = await sink_run(
        es,
        _events(100),
        {"index": index},
        connection_config={"retries": 1},
        pipeline_config={"sink_retries": -1},
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.server.faults.fired["request"] == 4
    assert len(es.docs(index)) == 100 and not run.dead_letters()


async def test_a_busy_node_is_waited_out_as_its_retry_after_asks(es: Any, sink_run: Any) -> None:
    index = es.index()
    es.faults.fail_requests(429, count=1, path="_bulk")  # answered with Retry-After: 1
    start = time.monotonic()
    run = await sink_run(es, _events(10), {"index": index}, connection_config={"retries": 1})
    assert time.monotonic() - start >= 0.95, "Retry-After: 1 was not honoured"
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.server.faults.fired["request"] == 1 and len(es.docs(index)) == 10


async def test_a_connection_reset_mid_bulk_loses_nothing_and_ids_make_it_exactly_once(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    es.faults.reset_bulks(count=2, apply_first=True)
    run = await sink_run(
        es,
        _events(300),
        {"index": index, "bulk_max_actions": 100},
        pipeline_config={"sink_retries": -1},
        batch_size=100,
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert es.server.faults.fired["reset"] == 2
    docs = es.docs(index)
    assert sorted(docs) == sorted(f"d{i}" for i in range(300)), "exactly once: ids given"


async def test_a_connection_reset_without_ids_may_duplicate_but_loses_nothing(
    es: Any, sink_run: Any
) -> None:
    index = es.index()
    es.faults.reset_bulks(count=1, apply_first=True)
    run = await sink_run(
        es,
        _events(100, ids=False),
        {"index": index},
        pipeline_config={"sink_retries": -1},
        batch_size=100,
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    numbers = sorted(d["n"] for d in es.docs(index).values())
    assert set(numbers) == set(range(100)), "nothing lost"
    assert len(numbers) == 200, "the reset bulk was written, its retry wrote it again"


async def test_slow_answers_past_the_timeout_are_retried(es: Any, sink_run: Any) -> None:
    index = es.index()
    es.faults.delay(0.6, count=1, path="_bulk")
    run = await sink_run(
        es,
        _events(20),
        {"index": index},
        batch_size=20,
        connection_config={"request_timeout": 0.3, "retries": 3},
        pipeline_config={"sink_retries": -1},
    )
    assert set(run.statuses) == {BatchRecord.ACKNOWLEDGED}
    assert sorted(es.docs(index)) == sorted(f"d{i}" for i in range(20))


async def test_sigkill_of_pump_run_mid_stream_and_a_restart_write_every_document_once(
    es: Any, tmp_path: Path
) -> None:
    index = es.index()
    total = 30_000
    data = tmp_path / "in"
    data.mkdir()
    with (data / "docs.jsonl").open("wb") as f:
        for i in range(total):
            f.write(orjson.dumps({"_id": f"doc-{i}", "n": i, "text": "x" * 40}) + b"\n")
    env = {
        "PUMP_ELASTICSEARCH_URL": es.url,
        "WORKER_INPUT": str(data / "*.jsonl"),
        "WORKER_POSITIONS": str(tmp_path / "positions"),
        "WORKER_INDEX": index,
        "PYTHONUNBUFFERED": "1",
    }
    if es.server is not None:
        es.server.faults.delay(0.02, path="_bulk")  # slow enough to be killed mid-stream
    with PumpRun(HERE / "elastic_worker.yaml", env) as first:
        deadline = time.monotonic() + 60
        while len(es.docs(index)) < 3000:
            assert first.alive(), first.output()
            assert time.monotonic() < deadline, "the first worker wrote nothing"
            await asyncio.sleep(0.05)
        first.kill()
    killed_at = len(es.docs(index))
    assert killed_at < total, "killed mid-stream"
    if es.server is not None:
        es.server.faults.clear()
    with PumpRun(HERE / "elastic_worker.yaml", env) as second:
        deadline = time.monotonic() + 90
        while len(es.docs(index)) < total:
            assert second.alive() or len(es.docs(index)) >= total, second.output()
            assert time.monotonic() < deadline, f"only {len(es.docs(index))} of {total} arrived"
            await asyncio.sleep(0.1)
    docs = es.docs(index)
    assert sorted(docs) == sorted(f"doc-{i}" for i in range(total))
    assert all(docs[f"doc-{i}"]["n"] == i for i in range(0, total, 997))
