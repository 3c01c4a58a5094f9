"""SIGKILL a `pump run` in the middle of a large file, again and again: no line is lost.

Each kill leaves the input `-locked` with a saved position and the output half written under
a temporary name; each restart resumes the input from its position (lines after it are read
again: at-least-once) and repairs and publishes the unfinished output. At the end every input
line is in the output, and every output line is whole JSON.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

PIPELINE = """
pipelines:
  copy:
    source: {type: file.line, path: "in/*.log", batch_size: 200, position_interval: 0.05}
    sink: {type: file.jsonl, path: "out/part-{n:04d}.jsonl", max_events: 100000}
    max_in_flight: 1000
"""

LINES = 1_000_000


def pump_run(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pump", "run", "pipeline.yaml"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def writing(out: Path) -> bool:
    return any(p.stat().st_size > 0 for p in out.glob(".part-*.inprogress")) if out.is_dir() else False


def test_sigkill_in_the_middle_of_a_large_file_loses_no_line(tmp_path):
    (tmp_path / "in").mkdir()
    with (tmp_path / "in" / "big.log").open("w") as f:
        f.writelines(f"line {i}\n" for i in range(LINES))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    out = tmp_path / "out"
    rnd = random.Random(20240501)
    kills = 0
    for _ in range(10):
        if kills == 4:
            break
        proc = pump_run(tmp_path)
        deadline = time.monotonic() + 30
        while proc.poll() is None and not writing(out) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0.0, 0.25))
        if proc.poll() is not None:
            break  # it finished before the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert (tmp_path / "in" / "big.log-locked").exists(), "killed, yet the input is not locked"
    assert kills >= 3, "the runs finished before they could be killed: use a larger file"

    final = pump_run(tmp_path)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()[-3000:]

    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["big.log-processed"]
    assert not list(out.glob(".*")), "an unfinished output file was left behind"
    seen: Counter[str] = Counter()
    for part in sorted(out.iterdir()):
        for line in part.read_bytes().splitlines():
            seen[orjson.loads(line)] += 1  # every line is whole JSON: no torn tail survived
    missing = [i for i in range(LINES) if seen[f"line {i}"] == 0]
    assert not missing, f"{len(missing)} lines lost, e.g. {missing[:5]}"
    assert len(seen) == LINES
