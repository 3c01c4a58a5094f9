"""pump-file in a YAML pipeline: every component builds from declarative config, and runs."""

from __future__ import annotations

import csv

import orjson
import pytest

from pump.deadletter import original_event
from pump.declarative import build
from pump.errors import ConfigError

from .conftest import run_app


async def test_a_yaml_pipeline_of_file_components_runs(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales.csv").write_text("id,country,amount\n1,CZ,10\n2,XX,oops\n3,DE,7\n")
    (tmp_path / "countries.json").write_text('{"CZ": "Czechia", "DE": "Germany"}')
    app = build(
        {
            "lookups": {
                "countries": {"type": "file.json", "path": str(tmp_path / "countries.json")}
            },
            "pipelines": {
                "sales": {
                    "source": {"type": "file.csv", "path": str(tmp_path / "in" / "*.csv")},
                    "processors": [{"type": "python", "function": "builtins:dict"}],
                    "sink": {
                        "type": "file.jsonl",
                        "path": str(tmp_path / "out" / "sales-{n}.jsonl"),
                    },
                    "on_error": {
                        "dead_letter": {"type": "file.jsonl", "path": str(tmp_path / "dead.jsonl")}
                    },
                }
            },
        }
    )
    assert await run_app(app) == 0
    assert dict(app.locate_lookup("countries")) == {"CZ": "Czechia", "DE": "Germany"}
    rows = [
        orjson.loads(line)
        for line in (tmp_path / "out" / "sales-0.jsonl").read_bytes().splitlines()
    ]
    assert [r["id"] for r in rows] == ["1", "2", "3"]


def test_wrong_keys_are_reported_at_build_time(tmp_path):
    with pytest.raises(ConfigError) as info:
        build(
            {
                "lookups": {"t": {"type": "file.csv", "path": "t.csv", "poll": 3}},
                "pipelines": {
                    "p": {
                        "source": {"type": "file.line", "path": "x", "folow": True},
                        "sink": {"type": "file.jsonl", "path": "out/{unclosed"},
                    }
                },
            }
        )
    message = str(info.value)
    assert "poll" in message and "folow" in message and "unclosed" in message


@pytest.mark.parametrize("dead_type", ["file.jsonl", "file.csv", "file.block"])
async def test_input_json_cannot_parse_is_dead_lettered_by_every_file_sink(
    tmp_path, dead_type, caplog
):
    """Issue 9: bytes that are not JSON made a file.jsonl dead-letter sink retry forever."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_bytes(b'{"ok": 1}')
    (tmp_path / "in" / "b.json").write_bytes(b"\xff\xfe not json")
    (tmp_path / "in" / "c.json").write_bytes(b"{not json either")
    suffix = dead_type.removeprefix("file.")
    app = build(
        {
            "pipelines": {
                "p": {
                    "source": {"type": "file.block", "path": str(tmp_path / "in" / "*.json")},
                    "processors": [{"type": "json.parse"}],
                    "sink": {"type": "file.jsonl", "path": str(tmp_path / "out.jsonl")},
                    # sink_retries is -1 (forever): only a permanent failure could end this run
                    "on_error": {
                        "dead_letter": {
                            "type": dead_type,
                            "path": str(tmp_path / "dead" / f"{{n}}.{suffix}"),
                        }
                    },
                }
            },
        }
    )
    assert await run_app(app) == 0
    assert "retry" not in caplog.text
    assert [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()] == [
        {"ok": 1}
    ]
    pipeline = app.locate_pipeline("p")
    assert pipeline.metrics()["dead_lettered"] == 2
    dead = sorted((tmp_path / "dead").iterdir())
    if dead_type == "file.csv":
        [path] = dead
        rows = list(csv.DictReader(path.read_text().splitlines()))
        assert [(r["event"], r["event_encoding"]) for r in rows] == [
            ("//4gbm90IGpzb24=", "base64"),
            ("{not json either", "utf-8"),
        ]
        assert all(r["component"] == "json.parse" and "b.json" in rows[0]["context"] for r in rows)
        return
    if dead_type == "file.jsonl":
        [path] = dead
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    else:
        records = [orjson.loads(path.read_bytes()) for path in dead]
    records.sort(key=lambda r: r["context"]["file_name"])
    assert [original_event(r) for r in records] == [b"\xff\xfe not json", b"{not json either"]
    assert [r["event_encoding"] for r in records] == ["base64", "utf-8"]
    assert records[0]["context"]["file_path"] == str(tmp_path / "in" / "b.json")
    assert records[0]["pipeline"] == "p" and "invalid JSON" in records[0]["error"]
