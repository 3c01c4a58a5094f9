"""FileJSONSource (whole documents, parsed off the event loop) and FileJSONLinesSource."""

from __future__ import annotations

import threading

import orjson

from pump_file import FileJSONLinesSource, FileJSONSource
from pump_file.json_source import JSONDocumentReading


async def test_each_file_is_one_event(tmp_path, fx):
    (tmp_path / "a.json").write_bytes(orjson.dumps({"a": [1, 2, {"b": None}]}))
    (tmp_path / "b.json").write_bytes(b"[1, 2, 3]")
    events, contexts, _ = await fx.read_all(FileJSONSource, {"path": str(tmp_path / "*.json")})
    assert events == [{"a": [1, 2, {"b": None}]}, [1, 2, 3]]
    assert contexts == [
        {"file_path": str(tmp_path / "a.json")},
        {"file_path": str(tmp_path / "b.json")},
    ]
    assert fx.files(tmp_path) == ["a.json-processed", "b.json-processed"]


async def test_split_arrays_give_one_event_per_element(tmp_path, fx):
    (tmp_path / "a.json").write_bytes(orjson.dumps([{"i": i} for i in range(2500)]))
    (tmp_path / "b.json").write_bytes(b'{"not": "an array"}')
    events, contexts, _ = await fx.read_all(
        FileJSONSource, {"path": str(tmp_path / "*.json"), "split_arrays": True, "batch_size": 1000}
    )
    assert events == [{"i": i} for i in range(2500)] + [{"not": "an array"}]
    assert contexts[2499] == {"file_path": str(tmp_path / "a.json"), "file_item": 2499}


async def test_a_large_document_is_parsed_in_a_worker_thread(tmp_path, fx, monkeypatch):
    (tmp_path / "big.json").write_bytes(
        orjson.dumps({"rows": [{"i": i, "s": "x" * 20} for i in range(200_000)]})
    )
    threads = []
    parse = JSONDocumentReading._parse

    def recording(self):
        threads.append(threading.current_thread())
        return parse(self)

    monkeypatch.setattr(JSONDocumentReading, "_parse", recording)
    events, _, _ = await fx.read_all(FileJSONSource, {"path": str(tmp_path / "big.json")})
    assert len(events[0]["rows"]) == 200_000
    assert threads and threads[0] is not threading.main_thread()


async def test_invalid_documents_and_oversized_files_fail_alone(tmp_path, fx):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "big.json").write_text("[" + "1," * 1000 + "1]")
    (tmp_path / "ok.json").write_text("true")
    events, _, source = await fx.read_all(
        FileJSONSource, {"path": str(tmp_path / "*.json"), "max_size": 1000}
    )
    assert events == [True] and source.files_failed == 2
    assert fx.files(tmp_path) == [
        ".bad.json.p.src.pos",
        ".big.json.p.src.pos",
        "bad.json-failed",
        "big.json-failed",
        "ok.json-processed",
    ]


async def test_json_lines_skip_blank_lines_and_number_every_line(tmp_path, fx):
    (tmp_path / "a.jsonl").write_bytes(b'{"a":1}\n\n  \n[2]\r\n"three"')
    events, contexts, _ = await fx.read_all(
        FileJSONLinesSource, {"path": str(tmp_path / "a.jsonl")}
    )
    assert events == [{"a": 1}, [2], "three"]
    assert [c["file_line"] for c in contexts] == [1, 4, 5]


async def test_an_invalid_json_line_fails_the_file_after_the_lines_before_it(tmp_path, fx):
    (tmp_path / "a.jsonl").write_bytes(
        b"".join(b'{"i":%d}\n' % i for i in range(10)) + b"{broken\n" + b"{}\n"
    )
    events, _, source = await fx.read_all(
        FileJSONLinesSource,
        {"path": str(tmp_path / "a.jsonl"), "batch_size": 5, "on_invalid": "fail"},
    )
    assert events == [{"i": i} for i in range(10)]
    assert source.files_failed == 1 and "a.jsonl-failed" in fx.files(tmp_path)
    assert source.Pipeline.metrics()["errors"] == 1  # visible in the run's summary


async def test_an_invalid_json_line_goes_to_the_pipelines_error_policy_by_default(tmp_path, fx):
    (tmp_path / "a.jsonl").write_bytes(b'{"i":0}\n{broken\n{"i":2}\n')
    events, contexts, source = await fx.read_all(
        FileJSONLinesSource, {"path": str(tmp_path / "a.jsonl")}, on_error="skip"
    )
    assert events == [{"i": 0}, {"i": 2}] and [c["file_line"] for c in contexts] == [1, 3]
    assert source.counters.errors == 1 and source.files_failed == 0
    assert source.Pipeline.metrics()["errors"] == 1
    [error] = source.Pipeline.errors
    assert error.component == source.Id and "a.jsonl line 2 is not JSON" in str(error.error)
    assert error.event == "{broken"  # the raw line, for the dead-letter record


async def test_invalid_json_lines_can_be_skipped(tmp_path, fx):
    (tmp_path / "a.jsonl").write_bytes(b'{"i":0}\n{broken\n{"i":2}\n')
    events, contexts, source = await fx.read_all(
        FileJSONLinesSource, {"path": str(tmp_path / "a.jsonl"), "on_invalid": "skip"}
    )
    assert events == [{"i": 0}, {"i": 2}] and [c["file_line"] for c in contexts] == [1, 3]
    assert source.counters.errors == 1


async def test_json_lines_in_another_encoding(tmp_path, fx):
    (tmp_path / "a.jsonl").write_bytes('{"name": "Šťastný"}\n'.encode("cp1250"))
    events, _, _ = await fx.read_all(
        FileJSONLinesSource, {"path": str(tmp_path / "a.jsonl"), "encoding": "cp1250"}
    )
    assert events == [{"name": "Šťastný"}]
