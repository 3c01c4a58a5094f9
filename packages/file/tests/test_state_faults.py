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

    def checkpointed() -> bool:
        return bool(read_positions(state_dir))

    kills = kill_repeatedly(lambda: pump_run(tmp_path, log), checkpointed, 5, after=(0.05, 0.5))
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
