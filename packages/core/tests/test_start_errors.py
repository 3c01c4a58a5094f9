"""A known start error (a PumpError) from `app.run()`: one clear line and exit 1, no traceback
unless logging is at DEBUG."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """\
import logging
import sys

import pump
from pump.common import IteratorSource, NullSink


class TopicMissing(pump.PumpError):
    pass


class Broker(pump.Connection):
    async def start(self):
        raise TopicMissing("Broker 'kafka': topic 'in' does not exist (create it first)")


if sys.argv[1:] == ["debug"]:
    logging.basicConfig(level=logging.DEBUG)
app = pump.Application(args=[])
app.add_connection(Broker(app, "kafka"))
pipeline = pump.Pipeline(app, "p")
pipeline.build(IteratorSource(app, pipeline, [1]), NullSink(app, pipeline))
app.add_pipeline(pipeline)
raise SystemExit(app.run())
"""


@pytest.mark.parametrize("debug", [False, True])
def test_a_start_error_prints_one_line_and_exits_1(tmp_path, debug):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), *(["debug"] if debug else [])],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PUMP_IGNORE_ARGV": "1", "PATH": ""},
    )
    assert result.returncode == 1
    assert "cannot start: TopicMissing: Broker 'kafka': topic 'in' does not exist" in result.stderr
    if debug:
        assert "Traceback (most recent call last)" in result.stderr
    else:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_an_unexpected_error_is_not_hidden(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(SCRIPT).replace(
            "TopicMissing(pump.PumpError)", "TopicMissing(ZeroDivisionError)"
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PUMP_IGNORE_ARGV": "1", "PATH": ""},
    )
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
