"""SIGTERM: stop fetching, finish in-flight events, flush, exit 0 — in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import pump

    out_dir = sys.argv[1]

    class Counter(pump.Source):
        async def main(self):
            seq = 0
            with open(f"{out_dir}/accepted.txt", "w") as accepted:
                while True:
                    events = [{"seq": seq + i} for i in range(50)]
                    await self.emit(events)
                    accepted.write(f"{seq} {seq + 50}\\n")
                    accepted.flush()
                    seq += 50

    class SlowFileSink(pump.Sink):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline)
            self.file = open(f"{out_dir}/written.jsonl", "w")
            self.flushed = False

        async def _write(self, events):
            await asyncio.sleep(0.02)
            for e in events:
                self.file.write(json.dumps(e) + "\\n")
            self.file.flush()

        def write(self, events, contexts):
            return self._write(events)

        async def stop(self):
            self.file.write(json.dumps({"closed": True}) + "\\n")
            self.file.close()

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 500})
    pipeline.build(Counter(app, pipeline), SlowFileSink(app, pipeline))
    app.add_pipeline(pipeline)
    print("started", flush=True)
    sys.exit(app.run())
    """
)


def test_sigterm_drains_every_accepted_event_and_exits_0(tmp_path: Path):
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        written = tmp_path / "written.jsonl"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if written.exists() and written.stat().st_size > 20_000:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert lines[-1] == {"closed": True}  # the sink was stopped after the drain
    seen = {e["seq"] for e in lines[:-1]}
    accepted = set()
    for line in (tmp_path / "accepted.txt").read_text().splitlines():
        start, end = map(int, line.split())
        accepted.update(range(start, end))
    assert accepted, "nothing was accepted before the signal"
    assert accepted <= seen  # every accepted event reached the sink
    assert len(seen) - len(accepted) <= 50  # at most the batch being handed over at the signal
