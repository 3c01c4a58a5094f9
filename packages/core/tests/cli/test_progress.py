"""Progress of `pump run`: log lines when not a terminal, a live table in one (a real pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time

SLOW = """
pipelines:
  slow:
    source: {type: test.numbers, count: 60, batch_size: 10, delay: 0.1}
    processors: [{type: test.add, amount: 1}]
    sink: {type: "null"}
"""


def test_without_a_terminal_progress_is_periodic_log_lines(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SLOW)
    result = pump_cli("run", "pipeline.yaml", "--interval", "0.2")
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "pump.run: pipeline 'slow'" in line]
    assert len(progress) >= 2, result.stderr
    assert "\x1b[" not in result.stderr  # no terminal escapes in a pipe
    # Counts only grow; the line carries in/out, rate, in flight, errors.
    counts = [int(line.split(": in ")[1].split(" ")[0]) for line in progress]
    assert counts == sorted(counts) and counts[-1] > 0
    assert "errors 0" in progress[-1] and "in flight" in progress[-1] and "/s)" in progress[-1]
    assert "read 60, written 60" in result.stderr


def test_components_own_counters_show_in_progress_lines_and_the_summary(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SLOW)
    result = pump_cli("run", "pipeline.yaml", "--interval", "0.2")
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "pump.run: pipeline 'slow'" in line]
    assert any("; test.numbers.batches " in line for line in progress), result.stderr
    assert "    test.numbers.batches 6\n" in result.stderr  # the summary: 60 events, 10 a batch
    as_json = pump_cli("run", "pipeline.yaml", "--log-format", "json")
    summary = json.loads(as_json.stderr.splitlines()[-1])["summary"]
    assert summary["pipelines"][0]["counters"] == {"test.numbers.batches": 6}


def test_json_log_lines(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SLOW)
    result = pump_cli("run", "pipeline.yaml", "--interval", "0.2", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [r for r in records if r.get("logger") == "pump.run"]
    assert progress and all(r["level"] == "INFO" for r in progress)
    assert records[-1]["summary"]["totals"]["events_out"] == 60


def test_quiet_and_log_level_silence_progress(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SLOW)
    result = pump_cli("run", "pipeline.yaml", "--interval", "0.2", "--log-level", "warning")
    assert result.returncode == 0
    assert "pump.run: pipeline" not in result.stderr  # INFO lines filtered
    assert "read 60, written 60" in result.stderr  # the summary is not a log line
    quiet = pump_cli("run", "pipeline.yaml", "--interval", "0.2", "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_a_forced_live_view_into_a_pipe_draws_the_table(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SLOW)
    result = pump_cli("run", "pipeline.yaml", "--progress", "live", "--interval", "0.1")
    assert result.returncode == 0, result.stderr
    for header in ("pipeline", "ev/s", "in-flight", "dead-letter"):
        assert header in result.stderr
    assert "slow" in result.stderr and "finished" in result.stderr
    assert "read 60, written 60" in result.stderr


def _run_in_pty(args, cwd, env, timeout=60):
    """Run a command with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the terminal closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_in_a_terminal_the_live_view_is_drawn_in_place(fixture_dists, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(
        textwrap.dedent(
            """
            pipelines:
              slow:
                source: {type: test.numbers, count: 40, batch_size: 10, delay: 0.1}
                sink: {type: print}
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUMP_")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    code, output = _run_in_pty(
        [sys.executable, "-m", "pump", "run", "pipeline.yaml", "--interval", "0.1"],
        cwd=tmp_path,
        env=env,
    )
    assert code == 0, output
    assert "\x1b[" in output  # drawn with terminal control sequences
    assert "ev/s" in output and "dead-letter" in output
    assert output.count("in-flight") >= 2  # redrawn, not printed once
    assert "{'n': 39}" in output  # the print sink's stdout shows above the table
    assert "read 40, written 40" in output
