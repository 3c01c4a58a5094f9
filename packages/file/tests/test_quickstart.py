"""The file quickstart (examples/quickstart/access-log.yaml) runs with `pump run` and adds up."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart"
FILES = ["access-log.yaml", "accesslog.py", "countries.csv", "generate.py"]


def test_the_quickstart_pipeline_accounts_for_every_line(tmp_path):
    for name in FILES:
        shutil.copy(QUICKSTART / name, tmp_path / name)
    subprocess.run(
        [sys.executable, "generate.py", "6000"], cwd=tmp_path, check=True, capture_output=True
    )
    done = subprocess.run(
        [sys.executable, "-m", "pump", "run", "access-log.yaml", "--progress", "off"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    out = tmp_path / "out"
    requests = [
        orjson.loads(line)
        for p in sorted((out / "requests").iterdir())
        for line in p.read_bytes().splitlines()
    ]
    dead = [orjson.loads(line) for line in (out / "dead-letter.jsonl").read_bytes().splitlines()]
    minutes = list(csv.DictReader((out / "minutes.csv").open(newline="")))
    assert len(dead) == 30  # one line in two hundred is damaged
    assert all(d["error"].startswith("ValueError") and d["context"]["file_line"] > 0 for d in dead)
    dropped = 6000 - len(requests) - len(dead)
    assert 0 < dropped < 6000 * 0.3  # health checks and static files
    assert all(r["country"] for r in requests) and {r["country"] for r in requests} >= {
        "CZ",
        "DE",
        "US",
    }
    assert sum(int(m["requests"]) for m in minutes) == len(requests)
    assert [m["minute"] for m in minutes] == sorted({r["time"][:16] for r in requests})
    again = subprocess.run(
        [sys.executable, "-m", "pump", "run", "access-log.yaml", "--progress", "off"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    # post_process: keep remembers both logs as read: the second run says why it reads nothing
    assert (
        "nothing to read: path 'data/access-*.log': 2 files already processed "
        "(kept; read again when they change)"
    ) in again.stderr
    assert "pipeline 'requests' finished: read 0, written 0" in again.stderr
    assert "warnings 1" in again.stderr


def test_the_quickstart_time_parse_agrees_with_strptime():
    spec = importlib.util.spec_from_file_location("accesslog", QUICKSTART / "accesslog.py")
    assert spec is not None and spec.loader is not None
    accesslog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accesslog)
    fmt = "%d/%b/%Y:%H:%M:%S %z"
    for stamp in [
        "14/Nov/2023:09:00:01 +0000",
        "01/Jan/2000:00:00:00 -0130",
        "29/Feb/2024:23:59:59 +1400",
        "31/Dec/1999:12:30:00 +0545",
    ]:
        assert accesslog.iso_time(stamp) == datetime.strptime(stamp, fmt).isoformat()
        assert accesslog.iso_time(stamp) == datetime.strptime(stamp, fmt).isoformat()  # cached
    for bad in [
        "31/Nov/2023:09:00:01 +0000",
        "29/Feb/2023:09:00:01 +0000",
        "14/Nox/2023:09:00:01 +0000",
        "14/Nov/2023:24:00:01 +0000",
        "14/Nov/2023:09:00:01",
        "14/Nov/2023 09:00:01 +0000",
    ]:
        with pytest.raises(ValueError):
            datetime.strptime(bad, fmt)
        with pytest.raises(ValueError):
            accesslog.iso_time(bad)
