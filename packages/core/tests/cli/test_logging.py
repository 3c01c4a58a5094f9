"""`pump run` keeps third-party libraries' INFO chatter out of the view unless --log-level debug."""

from __future__ import annotations

import textwrap

import pytest

from pump.cli_view import LIBRARY_LOGGERS

CHATTY = """\
import logging


def chat(event):
    logging.getLogger("aiokafka.consumer.group_coordinator").info("joined group LIBRARY-INFO")
    logging.getLogger("aio_pika.robust_connection").warning("LIBRARY-WARNING")
    logging.getLogger("myfuncs").info("USER-INFO")
    return event
"""

PIPELINE = """\
pipelines:
  p:
    source: {type: iterator, iterator: [a]}
    processors: [{type: python, function: "myfuncs:chat"}]
    sink: {type: null}
"""


@pytest.mark.parametrize(
    "level, library_info_shown", [("INFO", False), ("WARNING", False), ("DEBUG", True)]
)
def test_library_info_logs_only_at_debug(pump_cli, tmp_path, level, library_info_shown):
    (tmp_path / "myfuncs.py").write_text(CHATTY)
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE))
    result = pump_cli("run", "pipeline.yaml", "--progress", "off", "--log-level", level)
    assert result.returncode == 0, result.stderr
    assert ("LIBRARY-INFO" in result.stderr) is library_info_shown
    assert "LIBRARY-WARNING" in result.stderr  # warnings of libraries still show
    assert ("USER-INFO" in result.stderr) is (level in ("INFO", "DEBUG"))


def test_the_first_party_connectors_libraries_are_listed():
    for name in ("aiokafka", "aio_pika", "aiormq", "kafka", "urllib3", "elasticsearch"):
        assert name in LIBRARY_LOGGERS
