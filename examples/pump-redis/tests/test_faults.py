"""A worker killed with SIGKILL loses nothing: another one claims its pending entries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import redis

EVENTS = 3000

PIPELINE = """
connections:
  redis: {{type: redis, url: "{url}"}}
pipelines:
  copy:
    source:
      type: redis.stream
      connection: redis
      stream: {stream_in}
      group: copy
      consumer: {consumer}
      batch_size: 50
      claim_idle: 0.5
      claim_interval: 0.2
    processors:
      - {{type: python, function: "slow:process"}}
    sink: {{type: redis.stream, connection: redis, stream: {stream_out}}}
"""

SLOW = """
import time


def process(event):
    time.sleep(0.001)  # slow enough to be killed mid-stream
    return event
"""


def start_worker(folder: Path, url: str, keys: str, consumer: str) -> subprocess.Popen[bytes]:
    spec = folder / f"{consumer}.yaml"
    spec.write_text(
        PIPELINE.format(
            url=url, stream_in=f"{keys}-in", stream_out=f"{keys}-out", consumer=consumer
        )
    )
    log = (folder / f"{consumer}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "pump", "run", str(spec), "--progress", "off"],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(folder)},
    )


def out_ids(client: redis.Redis, stream: str) -> list[int]:
    return [orjson.loads(f[b"data"])["id"] for _, f in client.xrange(stream)]


def wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sigkill_then_another_worker_claims_the_pending_entries(
    tmp_path: Path, redis_url: str, keys: str, client: redis.Redis
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    stream_in, stream_out = f"{keys}-in", f"{keys}-out"
    pipe = client.pipeline(transaction=False)
    for i in range(EVENTS):
        pipe.xadd(stream_in, {"data": orjson.dumps({"id": i})})
    pipe.execute()

    first = start_worker(tmp_path, redis_url, keys, "worker-1")
    try:
        started = wait(lambda: client.xlen(stream_out) >= EVENTS // 5, 60)
        assert started, (tmp_path / "worker-1.log").read_text()[-3000:]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    written_at_kill = client.xlen(stream_out)
    pending = client.xpending(stream_in, "copy")
    assert written_at_kill < EVENTS, "the worker finished before it was killed: nothing tested"
    assert pending["pending"] > 0, "nothing was in flight at the kill: nothing tested"
    assert {c["name"] for c in pending["consumers"]} == {b"worker-1"}

    # A worker with another name: only XAUTOCLAIM brings worker-1's pending entries to it.
    second = start_worker(tmp_path, redis_url, keys, "worker-2")
    try:
        done = wait(lambda: set(out_ids(client, stream_out)) >= set(range(EVENTS)), 90)
        settled = wait(lambda: client.xpending(stream_in, "copy")["pending"] == 0, 30)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            code = second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
            raise
    log = (tmp_path / "worker-2.log").read_text()
    ids = out_ids(client, stream_out)
    missing = sorted(set(range(EVENTS)) - set(ids))
    assert done, f"{len(missing)} events never arrived, e.g. {missing[:5]}\n{log[-3000:]}"
    assert settled, f"entries left unacknowledged: {client.xpending(stream_in, 'copy')}"
    assert code == 0, log[-3000:]
    # at-least-once: only what worker-1 had in flight may come twice
    duplicates = len(ids) - len(set(ids))
    assert duplicates <= pending["pending"], (duplicates, pending["pending"])
    assert "claimed" in log, log[-3000:]
