"""examples/pandas-summary: the quickstart's JSON Lines → a Parquet summary per minute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
QUICKSTART_FILES = ["access-log.yaml", "accesslog.py", "countries.csv", "generate.py"]


def test_the_summary_example_counts_every_request_once_per_minute(tmp_path):
    quickstart = tmp_path / "quickstart"
    quickstart.mkdir()
    for name in QUICKSTART_FILES:
        shutil.copy(EXAMPLES / "quickstart" / name, quickstart / name)
    for name in ["summary.yaml", "summary.py"]:
        shutil.copy(EXAMPLES / "pandas-summary" / name, tmp_path / name)
    subprocess.run(
        [sys.executable, "generate.py", "6000"], cwd=quickstart, check=True, capture_output=True
    )
    run = [sys.executable, "-m", "pump", "run", "access-log.yaml", "--progress", "off"]
    # timeouts are hang guards only: on a busy machine a run may take many times its usual
    done = subprocess.run(run, cwd=quickstart, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    requests_glob = str(quickstart / "out" / "requests" / "*.jsonl")
    env = {**os.environ, "REQUESTS": requests_glob, "OUT": str(tmp_path / "out")}
    done = subprocess.run(
        [sys.executable, "-m", "pump", "run", "summary.yaml", "--progress", "off"],
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    (part,) = (tmp_path / "out").iterdir()
    summary = pd.read_parquet(part)
    requests = [
        orjson.loads(line)
        for p in sorted((quickstart / "out" / "requests").glob("*.jsonl"))
        for line in p.read_bytes().splitlines()
    ]
    expected = pd.DataFrame(requests)
    expected["minute"] = pd.to_datetime(expected["time"]).dt.floor("min")
    by_minute = expected.groupby("minute")
    assert list(summary["minute"]) == list(by_minute.size().index)
    assert list(summary["requests"]) == list(by_minute.size())
    assert list(summary["bytes"]) == list(by_minute["bytes"].sum())
    assert list(summary["errors"]) == list(by_minute["status"].apply(lambda s: (s >= 500).sum()))
    assert summary["requests"].sum() == len(requests)
