"""SIGKILL during a one-hour event-time window over a file, five times, then a run to the end:
the window counts equal a clean run's exactly (state restored from the checkpoint, replayed
lines it already holds not counted twice; a window emitted again after a crash has the same
counts)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

PIPELINE = """
pipelines:
  hourly:
    source: {type: file.jsonl, path: "in/*.jsonl", post_process: keep, batch_size: 500}
    processors:
      - {type: python, class: "slow:Slow"}     # ~3 s in all, so that the kills land mid-way
      - {type: window.tumbling, key: user, time: ts, size: 1h, time_format: epoch}
    sink: {type: file.jsonl, path: "out/windows-{pid}.jsonl"}   # a file per run
    state_dir: state
    checkpoint_interval: 0.1
"""
#: The same window in a second pipeline, fed by a tee: its state must gate the replayed lines
#: too (the copies carry the upstream file's positions).
TEED_PIPELINE = """
pipelines:
  read:
    source: {type: file.jsonl, path: "in/*.jsonl", post_process: keep, batch_size: 500}
    processors:
      - {type: python, class: "slow:Slow"}     # ~3 s in all, so that the kills land mid-way
      - {type: tee, target: hourly}
    sink: {type: "null"}
  hourly:
    source: {type: internal}
    processors:
      - {type: window.tumbling, key: user, time: ts, size: 1h, time_format: epoch}
    sink: {type: file.jsonl, path: "out/windows-{pid}.jsonl"}   # a file per run
    state_dir: state
    checkpoint_interval: 0.1
"""
SLOW = """
import time

import pump


class Slow(pump.Processor):
    def process_batch(self, contexts, events):
        time.sleep(0.012)
        return None
"""
START = 1_700_002_800  # a whole hour
EVENTS = 120_000
SPAN = 3 * 3600 + 1800  # three and a half hours of event time
USERS = 7


def make_input(folder: Path) -> Counter[tuple[str, int]]:
    """The input file; the counts per (user, hour) a clean run finds."""
    (folder / "in").mkdir()
    rng = random.Random(5)
    expected: Counter[tuple[str, int]] = Counter()
    lines = []
    for i in range(EVENTS):
        ts = START + i * SPAN // EVENTS
        user = f"u{rng.randrange(USERS)}"
        expected[(user, ts - ts % 3600)] += 1
        lines.append(orjson.dumps({"ts": ts, "user": user}))
    (folder / "in" / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return expected


def run(folder: Path, kill_after: float | None) -> tuple[int | None, bool]:
    """`pump run` in `folder`; SIGKILLed `kill_after` s after its pipeline started (if it
    still runs then)."""
    pump_cli = [sys.executable, "-c", "import sys; from pump.cli import main; sys.exit(main())"]
    log_path = folder / "log.txt"
    started_before = _starts(log_path)
    log = log_path.open("ab")
    process = subprocess.Popen(
        [*pump_cli, "run", "hourly.yaml", "--progress", "off"],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        if kill_after is None:
            return process.wait(120), False
        deadline = time.monotonic() + 60
        while _starts(log_path) == started_before and process.poll() is None:
            assert time.monotonic() < deadline, "pump run did not start"
            time.sleep(0.02)
        try:
            return process.wait(kill_after), False
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            return None, True
    finally:
        log.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def _starts(log: Path) -> int:
    """How many runs logged that their pipeline started (its state opened)."""
    return log.read_text(errors="replace").count("checkpointed to") if log.exists() else 0


def outputs(folder: Path) -> list[dict[str, Any]]:
    """Every window written: a file per run (a killed run's unfinished one, hidden, is
    published by the next run; its last line may be torn)."""
    out = folder / "out"
    rows = []
    for path in sorted(out.glob("windows*.jsonl")) + sorted(out.glob(".windows*.inprogress")):
        for line in path.read_bytes().splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                assert path.suffix == ".inprogress", line
    return rows


@pytest.mark.parametrize("pipeline", [PIPELINE, TEED_PIPELINE], ids=["direct", "teed"])
def test_sigkill_five_times_during_an_hour_window_over_a_file(
    tmp_path: Path, pipeline: str
) -> None:
    (tmp_path / "hourly.yaml").write_text(pipeline)
    (tmp_path / "slow.py").write_text(SLOW)
    expected = make_input(tmp_path)
    rng = random.Random(11)
    killed = 0
    windows_after_kills = []
    for _ in range(5):
        code, was_killed = run(tmp_path, kill_after=rng.uniform(0.2, 1.5))
        killed += was_killed
        windows_after_kills.append(len({(r["key"], r["start"]) for r in outputs(tmp_path)}))
        assert was_killed or code == 0, (tmp_path / "log.txt").read_text()[-3000:]
    code, _ = run(tmp_path, kill_after=None)
    assert code == 0, (tmp_path / "log.txt").read_text()[-3000:]
    assert killed >= 3, "the runs should have been killed in the middle"
    rows = outputs(tmp_path)
    # some kill came before every window was out: the windows were in the middle
    assert min(windows_after_kills) < len(expected), windows_after_kills
    final: dict[tuple[str, int], int] = {}
    for row in rows:
        window = (row["key"], row["start"])
        # a window emitted again after a crash (its removal not yet checkpointed) has the
        # same count: nothing was counted twice, nothing lost
        assert final.setdefault(window, row["count"]) == row["count"], window
        assert row["end"] - row["start"] == 3600
    assert final == dict(expected)
    assert sum(final.values()) == EVENTS
