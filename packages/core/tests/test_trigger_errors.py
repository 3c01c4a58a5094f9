"""A failing cycle of a TriggerSource: logged (rate-limited), counted, tried again at the next
trigger with a backoff between consecutive failures; `on_cycle_error: stop` stops the pipeline.

The failing source is a poller of a TCP server that is down: its cycle connects to a port
nothing listens on, as an HTTP polling source would when its server is down.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pump
from pump.metrics import metric_families
from pump.testing import CollectingSink, wait_until
from pump.trigger import PeriodicTrigger, RunOnceTrigger, TriggerSource


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PollingSource(TriggerSource):
    """Each cycle asks a local TCP server for a line and emits it (like an HTTP poller)."""

    def __init__(self, app, pipeline, port, id="poll", config=None):
        super().__init__(app, pipeline, id=id, config=config)
        self.port = port
        self.started: list[float] = []

    async def cycle(self):
        self.started.append(time.monotonic())
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            line = await reader.readline()
        finally:
            writer.close()
        await self.emit([line.decode().strip()])


def build(port, trigger_interval, config, run_once=False):
    app = pump.Application(exit_when_finished=run_once)
    pipeline = pump.Pipeline(app, "p")
    source = PollingSource(app, pipeline, port, config=config)
    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    source.on(RunOnceTrigger(app) if run_once else PeriodicTrigger(app, trigger_interval))
    return app, pipeline, source, sink


async def test_a_failed_cycle_is_counted_and_tried_again_until_the_server_is_back(tmp_path):
    port = closed_port()
    app, pipeline, source, sink = build(port, 0.02, {"retry_delay": 0.01, "retry_delay_max": 0.05})
    await app.start()
    server = None
    try:
        assert await wait_until(lambda: source.cycles_failed >= 3, 5)
        assert not pipeline.is_error()  # the run goes on
        metrics = pipeline.metrics()
        poll = metrics["components"]["poll"]
        assert poll["cycles_failed"] >= 3
        assert poll["cycles_failing"] >= 3  # failures in a row
        assert poll["last_error"].startswith("ConnectionRefusedError: ")
        assert metrics["errors"] >= 3 and poll["errors"] == poll["cycles_failed"]
        failed = metric_families(app.metrics())["pump_component_cycles_failed"]
        assert failed.kind == "counter" and failed.value(pipeline="p", component="poll")

        async def answer(reader, writer):
            writer.write(b"pong\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", port)
        assert await wait_until(lambda: "pong" in sink.events, 5)
        poll = pipeline.metrics()["components"]["poll"]
        assert poll["cycles_failing"] == 0  # the next cycle after a success starts afresh
        assert poll["last_error"].startswith("ConnectionRefusedError: ")  # still shown
        assert not pipeline.is_error()
    finally:
        await app.stop()
        if server is not None:
            server.close()
            await server.wait_closed()


async def test_consecutive_failures_back_off_and_fires_meanwhile_are_coalesced():
    # the trigger fires every 10 ms; failed cycles are spaced by the backoff: 50, 100, 200 ms
    app, _pipeline, source, _sink = build(
        closed_port(), 0.01, {"retry_delay": 0.05, "retry_delay_max": 0.2}
    )
    await app.start()
    try:
        assert await wait_until(lambda: source.cycles_failed >= 5, 10)
    finally:
        await app.stop()
    gaps = [b - a for a, b in zip(source.started, source.started[1:], strict=False)][:4]
    for gap, delay in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=True):
        assert gap >= delay * 0.9, gaps  # jitter is ±10 %
    assert source.counters.fires_skipped > 0


async def test_repeated_failures_are_logged_rate_limited(caplog):
    app, _pipeline, source, _sink = build(
        closed_port(), 0.005, {"retry_delay": 0.001, "retry_delay_max": 0.002}
    )
    await app.start()
    try:
        assert await wait_until(lambda: source.cycles_failed >= 20, 5)
    finally:
        await app.stop()
    lines = [r.getMessage() for r in caplog.records if "cycle failed" in r.getMessage()]
    # one line per `error_log_interval` (10 s); the failures in between are counted in it
    assert source.error_log_interval == 10.0
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "pipeline 'p' component 'poll' (PollingSource): cycle failed (1 in a row): "
        "ConnectionRefusedError: "
    )
    assert lines[0].endswith("; tried again at the next trigger after 0.00s")


async def test_on_cycle_error_stop_stops_the_pipeline_at_the_first_failure():
    app, pipeline, source, _sink = build(closed_port(), 0.02, {"on_cycle_error": "stop"})
    app.ExitWhenFinished = True
    code = await asyncio.wait_for(app.main(), 10)
    assert code == 1
    assert pipeline.error is not None and pipeline.error.component == "poll"
    assert isinstance(pipeline.error.error, ConnectionRefusedError)
    assert source.cycles_failed == 1 and source.counters.cycles == 1


async def test_a_run_once_source_whose_only_cycle_failed_ends_in_error():
    # no trigger will run it again: the failure cannot be retried, so the run fails
    app, pipeline, source, _sink = build(closed_port(), 0, {}, run_once=True)
    code = await asyncio.wait_for(app.main(), 10)
    assert code == 1
    assert isinstance(pipeline.error.error, ConnectionRefusedError)
    assert source.cycles_failed == 1


POLLER = """
import asyncio

import pump


class Poller(pump.TriggerSource):
    async def cycle(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", {port})
        writer.close()
        await self.emit([{{"polled": True}}])
"""


def test_pump_run_keeps_running_while_the_server_is_down_and_exits_0_on_sigterm(tmp_path):
    port = closed_port()
    (tmp_path / "poller.py").write_text(POLLER.format(port=port))
    (tmp_path / "p.yaml").write_text(
        textwrap.dedent(
            """
            pipelines:
              poll:
                source:
                  class: "poller:Poller"
                  id: poller
                  trigger: {type: periodic, interval: 0.1}
                  retry_delay: 0.05
                sink: {type: "null"}
            """
        )
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pump", "run", "p.yaml", "--progress", "off"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        # start-up (imports) takes long on a busy machine: time from the first failed cycle
        deadline = time.monotonic() + 60
        while not any("cycle failed (1 in a row)" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        time.sleep(2.0)  # the old behaviour ended the run after the first failed cycle
        assert process.poll() is None, "".join(lines)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = "".join(lines)
    assert process.returncode == 0, stderr
    assert "pipeline 'poll' component 'poller' (Poller): cycle failed (1 in a row)" in stderr
    assert "ConnectionRefusedError" in stderr
    assert "success (exit 0)" in stderr
    summary = next(
        line for line in stderr.splitlines() if "pipeline 'poll'" in line and "read" in line
    )
    errors = int(summary.split("errors ")[1].split(",")[0])
    assert errors >= 3, summary
