"""BSPump's way: a Python-defined app run as `python mypump.py -c my.conf` with INI sections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

MYPUMP = """
import json

import pump
from pump.common import IteratorSource


class Multiplier(pump.Processor):
    ConfigDefaults = {"factor": 1, "label": "none", "enabled": False}

    def process(self, context, event):
        return {"n": event * self.Config["factor"], "label": self.Config["label"],
                "enabled": self.Config["enabled"]}


class FileSink(pump.Sink):
    ConfigDefaults = {"path": "out.jsonl"}

    def write(self, events, contexts):
        with open(self.Config["path"], "a") as f:
            f.writelines(json.dumps(e) + "\\n" for e in events)


class MyPipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)
        self.build(
            IteratorSource(app, self, [1, 2, 3], id="Source"),
            Multiplier(app, self, id="Multiplier"),
            FileSink(app, self, id="Sink"),
        )


if __name__ == "__main__":
    app = pump.Application()
    app.add_pipeline(MyPipeline(app, "MyPipeline"))
    print("max_in_flight", app.locate_pipeline("MyPipeline").Config.max_in_flight)
    raise SystemExit(app.run())
"""


def run_script(tmp_path, *args, env=None):
    (tmp_path / "mypump.py").write_text(MYPUMP)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUMP_")}
    return subprocess.run(
        [sys.executable, "mypump.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def test_a_bspump_style_app_reads_its_ini_file_from_dash_c(tmp_path):
    (tmp_path / "my.conf").write_text(
        textwrap.dedent(
            """
            [pipeline:MyPipeline]
            max_in_flight = 7

            [pipeline:MyPipeline:Multiplier]
            factor = 3
            label = ${LABEL:-from-default}
            enabled = yes

            [pipeline:MyPipeline:Sink]
            path = ${OUT}
            """
        )
    )
    result = run_script(tmp_path, "-c", "my.conf", env={"OUT": str(tmp_path / "result.jsonl")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["max_in_flight 7"]
    events = [json.loads(line) for line in (tmp_path / "result.jsonl").read_text().splitlines()]
    assert events == [{"n": n * 3, "label": "from-default", "enabled": True} for n in (1, 2, 3)]


def test_without_dash_c_the_class_defaults_apply(tmp_path):
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["max_in_flight 10000"]
    events = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert events == [{"n": n, "label": "none", "enabled": False} for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        (
            "[pipeline:MyPipeline:Multiplier]\nfactor = three\nfactr = 2\n",
            [
                "invalid configuration of pipeline 'MyPipeline' component 'Multiplier' "
                "(Multiplier)",
                "key 'factor': Input should be a valid integer, unable to parse string as an "
                "integer (got 'three') (from my.conf [pipeline:MyPipeline:Multiplier])",
                "key 'factr': unknown key; did you mean 'factor'? "
                "(known keys: factor, label, enabled) "
                "(from my.conf [pipeline:MyPipeline:Multiplier])",
            ],
        ),
        (
            "[pipeline:MyPipeline:Sink]\npath = ${NOT_SET_FOR_SURE}\n",
            [
                "invalid configuration of config file 'my.conf'",
                "[pipeline:MyPipeline:Sink] key 'path': environment variable NOT_SET_FOR_SURE "
                "is not set",
            ],
        ),
    ],
)
def test_config_errors_name_the_file_section_component_and_key(tmp_path, conf, expected):
    (tmp_path / "my.conf").write_text(conf)
    result = run_script(tmp_path, "-c", "my.conf")
    assert result.returncode != 0
    for text in expected:
        assert text in result.stderr, result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_a_section_that_matches_nothing_is_warned_about(tmp_path):
    (tmp_path / "my.conf").write_text("[pipeline:MyPipeline:Multiplyer]\nfactor = 3\n")
    result = run_script(tmp_path, "-c", "my.conf")
    assert result.returncode == 0, result.stderr
    assert (
        "config file my.conf: section [pipeline:MyPipeline:Multiplyer] matches no registered "
        "pipeline, component, connection or lookup; it is ignored" in result.stderr
    )
