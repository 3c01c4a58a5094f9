"""pump-file in a YAML pipeline: every component builds from declarative config, and runs."""

from __future__ import annotations

import orjson
import pytest

from pump.declarative import build
from pump.errors import ConfigError

from .conftest import run_app


async def test_a_yaml_pipeline_of_file_components_runs(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales.csv").write_text("id,country,amount\n1,CZ,10\n2,XX,oops\n3,DE,7\n")
    (tmp_path / "countries.json").write_text('{"CZ": "Czechia", "DE": "Germany"}')
    app = build(
        {
            "lookups": {"countries": {"type": "file.json", "path": str(tmp_path / "countries.json")}},
            "pipelines": {
                "sales": {
                    "source": {"type": "file.csv", "path": str(tmp_path / "in" / "*.csv")},
                    "processors": [{"type": "python", "function": "builtins:dict"}],
                    "sink": {"type": "file.jsonl", "path": str(tmp_path / "out" / "sales-{n}.jsonl")},
                    "on_error": {"dead_letter": {"type": "file.jsonl", "path": str(tmp_path / "dead.jsonl")}},
                }
            },
        }
    )
    assert await run_app(app) == 0
    assert dict(app.locate_lookup("countries")) == {"CZ": "Czechia", "DE": "Germany"}
    rows = [orjson.loads(line) for line in (tmp_path / "out" / "sales-0.jsonl").read_bytes().splitlines()]
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
