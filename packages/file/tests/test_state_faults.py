"""Stateful processing of a file survives SIGKILL exactly: `pump run` counting keys into SQLite
state is killed five times mid-file, then run to the end; the counts equal the file's, with no
event counted twice (the positions saved by the file source lag the state's checkpoints, so
each restart replays events the restored state already holds)."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from pump.testing.state import kill_repeatedly, read_positions, state_totals

PIPELINE = """
pipelines:
  counts:
    source: {type: file.line, path: "in/*.log", batch_size: 500, position_interval: 0.4}
    processors:
      - {class: "pump.testing.state:KeyCounter", id: counter, pause_every: 2000, pause: 0.01}
    sink: {type: null}
    checkpoint_interval: 0.1
    max_in_flight: 2000
"""

LINES = 400_000
KEYS = 1000


def pump_run(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pump", "run", "pipeline.yaml", "--progress", "off"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def test_counts_survive_five_sigkills_exactly(tmp_path):
    rng = random.Random()
    keys = [f"k{rng.randrange(KEYS)}" for _ in range(LINES)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "events.log").write_text("".join(f"{k}\n" for k in keys))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    state_dir = tmp_path / ".pump-state" / "counts"
    log = tmp_path / "pump.log"

    kills = kill_repeatedly(
        lambda: pump_run(tmp_path, log), lambda: read_positions(state_dir), 5, after=(0.05, 0.5)
    )
    assert kills == 5, "the runs finished before they could be killed: use a larger file"
    assert (tmp_path / "in" / "events.log-locked").exists()
    assert sum(state_totals(state_dir, "counter").values()) < LINES

    final = pump_run(tmp_path, log)
    assert final.wait(120) == 0, log.read_text()[-3000:]
    assert (tmp_path / "in" / "events.log-processed").exists()
    assert state_totals(state_dir, "counter") == Counter(keys)
    # the restarts did replay events the restored state held, and skipped them
    assert "already in the restored state" in log.read_text()
    # a finished file's position is no longer kept
    assert read_positions(state_dir) == {}


WINDOW_PIPELINE = """
pipelines:
  hourly:
    source: {type: file.jsonl, path: "in/*.jsonl", batch_size: 500, position_interval: 0.4}
    processors:
      - {class: "pump.testing.state:Pause", pause_every: 1000, pause: 0.01}
      - {type: window.tumbling, id: hourly, size: 1h, key: user, time: ts, time_format: epoch}
    sink: {type: file.jsonl, path: "out/part-{n:04d}.jsonl"}
    checkpoint_interval: 0.1
    max_in_flight: 2000
"""

START = 1_700_000_000 - 1_700_000_000 % 3600


def test_one_hour_windows_survive_five_sigkills_exactly(tmp_path):
    # 400,000 events over 4 hours of event time, 50 users: 1-hour tumbling counts per user
    rng = random.Random()
    events = [
        {"ts": START + i * 4 * 3600 / LINES, "user": f"u{rng.randrange(50)}"} for i in range(LINES)
    ]
    clean = Counter((e["user"], START + (int(e["ts"]) - START) // 3600 * 3600) for e in events)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "events.jsonl").write_text(
        "".join(f'{{"ts": {e["ts"]}, "user": "{e["user"]}"}}\n' for e in events)
    )
    (tmp_path / "pipeline.yaml").write_text(WINDOW_PIPELINE)
    state_dir = tmp_path / ".pump-state" / "hourly"
    log = tmp_path / "pump.log"

    # at most 100,000 events/s (the Pause): every kill lands before the file is done
    kills = kill_repeatedly(
        lambda: pump_run(tmp_path, log), lambda: read_positions(state_dir), 5, after=(0.05, 0.4)
    )
    assert kills == 5, "the runs finished before they could be killed: use a larger file"
    final = pump_run(tmp_path, log)
    assert final.wait(120) == 0, log.read_text()[-3000:]

    written: dict[tuple[str, int], set[int]] = {}
    for part in sorted((tmp_path / "out").glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            window = orjson.loads(line)
            written.setdefault((window["key"], int(window["start"])), set()).add(window["count"])
    # every window, each with the clean run's count (written again after a kill, never other)
    assert {key: counts for key, counts in written.items()} == {
        key: {count} for key, count in clean.items()
    }
    assert "already in the restored state" in log.read_text()
