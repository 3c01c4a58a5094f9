"""Faults lose nothing: SIGKILL of a `pump run` in the middle of a large file, again and again,
and a full disk under the sinks.

SIGKILL: each kill leaves the input `-locked` with a saved position and the output half written
under a temporary name; each restart resumes the input from its position (lines after it are read
again: at-least-once) and repairs and publishes the unfinished output. At the end every input
line is in the output, and every output line is whole JSON.

A full disk (simulated with RLIMIT_FSIZE in a subprocess): the failed write is cut back, so no
torn record is left, and nothing is acknowledged that is not in the file.
"""

from __future__ import annotations

import csv
import io
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

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
    return (
        any(p.stat().st_size > 0 for p in out.glob(".part-*.inprogress")) if out.is_dir() else False
    )


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


LIMIT = 200_000

WRITER = textwrap.dedent(
    """
    import asyncio, resource, signal, sys
    import orjson
    import pump
    from pump_file import FileCSVSink, FileJSONLinesSink

    # Past the limit a write fails with EFBIG (instead of the default: SIGXFSZ kills us).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))

    class Numbered(pump.Source):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline, "numbered")
            self.acked = []

        async def main(self):
            for b in range(400):
                events = [{{"batch": b, "i": i, "pad": "x" * 40}} for i in range(20)]
                await self.emit(events, {{}}, token=b)

        def acknowledge(self, batch):
            self.acked.append(batch.token)

    sink_cls = {{"jsonl": FileJSONLinesSink, "csv": FileCSVSink}}[sys.argv[1]]
    app = pump.Application()
    pipeline_config = {{"on_error": "stop", "sink_retries": 2, "retry_backoff": 0.01}}
    pipeline = pump.Pipeline(app, "p", config=pipeline_config)
    source = Numbered(app, pipeline)
    pipeline.build(source, sink_cls(app, pipeline, "out", config={{"path": sys.argv[2]}}))
    app.add_pipeline(pipeline)
    code = app.run()
    print(orjson.dumps({{"code": code, "acked": source.acked}}).decode())
    """
).format(limit=LIMIT)


def records(kind: str, data: bytes) -> list[dict]:
    if kind == "jsonl":
        assert data.endswith(b"\n")
        return [orjson.loads(line) for line in data.splitlines()]
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert data.endswith(b"\r\n")
    return [{"batch": int(r["batch"]), "i": int(r["i"]), "pad": r["pad"]} for r in rows]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_full_disk_leaves_no_torn_record_and_acknowledges_only_what_is_written(tmp_path, kind):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    target = tmp_path / f"out.{kind}"
    done = subprocess.run(
        [sys.executable, str(script), kind, str(target)], capture_output=True, timeout=120
    )
    result = orjson.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 1, "the pipeline should stop: the disk is full"
    assert b"File too large" in done.stderr  # the error says what happened
    data = target.read_bytes()  # published at stop, cut back to its last whole record
    assert 0 < len(data) <= LIMIT
    written = records(kind, data)  # every record parses: no torn tail
    in_file = {(r["batch"], r["i"]) for r in written}
    acked = result["acked"]
    assert acked, "some batches should have fit"
    missing = [(b, i) for b in acked for i in range(20) if (b, i) not in in_file]
    assert not missing, f"acknowledged but not in the file: {missing[:5]}"
    assert len(acked) < 400
