"""The components built from YAML: CSV in, a frame function by `module:function`, Parquet out."""

from __future__ import annotations

import sys

import pandas as pd

from pump.declarative import build_file

from .conftest import run_app

YAML = """
pipelines:
  convert:
    source: {type: pandas.csv, path: "in/*.csv", chunk_rows: 2}
    processors:
      - {type: pandas.from_frame}
      - {type: pandas.to_frame, completion_size: 3, dtypes: {amount: float32}}
      - {type: pandas.function, function: "yaml_frames:add_tax"}
    sink: {type: pandas.parquet, path: "out/part-{n}.parquet"}
"""


async def test_a_yaml_pipeline_of_pandas_components_runs(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id,amount\n1,10\n2,20\n3,30\n4,40\n")
    (tmp_path / "yaml_frames.py").write_text(
        "def add_tax(frame):\n    return frame.assign(tax=frame['amount'] * 0.2)\n"
    )
    (tmp_path / "p.yaml").write_text(YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        app = build_file(str(tmp_path / "p.yaml"))
        assert await run_app(app) == 0
    finally:
        sys.modules.pop("yaml_frames", None)
    out = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "out").iterdir())])
    assert list(out["id"]) == [1, 2, 3, 4]
    assert str(out["amount"].dtype) == "float32"
    assert list(out["tax"].round(3)) == [2.0, 4.0, 6.0, 8.0]
