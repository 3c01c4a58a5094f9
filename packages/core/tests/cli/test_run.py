"""`pump run` and `pump validate` through subprocesses: output, summary and exit codes."""

from __future__ import annotations

import json
import textwrap

import pytest


def write(tmp_path, text, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


FINITE = """
pipelines:
  numbers:
    source: {type: test.numbers, count: 250, batch_size: 100}
    processors:
      - {type: test.add, amount: "${AMOUNT:-1}"}
    sink: {type: test.jsonl, path: out.jsonl}
"""


def test_run_of_a_finite_pipeline_writes_everything_prints_the_summary_and_exits_0(
    pump_cli, tmp_path
):
    write(tmp_path, FINITE)
    result = pump_cli("run", "pipeline.yaml", env={"AMOUNT": "10"})
    assert result.returncode == 0, result.stderr
    assert [e["n"] for e in read_jsonl(tmp_path / "out.jsonl")] == [i + 10 for i in range(250)]
    assert "pump: finished in" in result.stderr
    assert "success (exit 0)" in result.stderr
    assert (
        "pipeline 'numbers' finished: read 250, written 250, dropped 0, dead-lettered 0, errors 0"
        in result.stderr
    )
    assert result.stdout == ""  # progress and summary never mix with the pipelines' stdout


def test_run_summary_as_json(pump_cli, tmp_path):
    write(tmp_path, FINITE)
    result = pump_cli("run", "pipeline.yaml", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["exit_code"] == 0
    assert summary["totals"] == {
        "events_in": 250,
        "events_out": 250,
        "dropped": 0,
        "dead_lettered": 0,
        "errors": 0,
        "warnings": 0,
    }
    assert summary["pipelines"][0]["state"] == "finished"
    assert summary["duration"] > 0


def test_a_failing_pipeline_exits_1_and_the_summary_names_the_error(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers, count: 20}
            processors: [{type: test.fail, when: 7}]
            sink: {type: "null"}
        """,
    )
    result = pump_cli("run", "pipeline.yaml")
    assert result.returncode == 1, result.stderr
    assert "a pipeline failed (exit 1)" in result.stderr
    assert "pipeline 'p' failed:" in result.stderr
    assert "error: test.fail: ValueError: failed on purpose at n=7" in result.stderr


def test_dead_lettered_events_are_counted_and_the_run_succeeds(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers, count: 10}
            processors: [{type: test.fail, when: 4}]
            sink: {type: test.jsonl, path: out.jsonl}
            on_error: {dead_letter: {type: test.jsonl, path: dead.jsonl}}
        """,
    )
    result = pump_cli("run", "pipeline.yaml")
    assert result.returncode == 0, result.stderr
    assert "read 10, written 9, dropped 0, dead-lettered 1, errors 1" in result.stderr
    assert read_jsonl(tmp_path / "dead.jsonl")[0]["event"] == {"n": 4}


def test_a_run_once_trigger_source_ends_the_run(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          ticks:
            source: {type: test.ticks, per_cycle: 5, trigger: run_once}
            sink: {type: test.jsonl, path: out.jsonl}
        """,
    )
    result = pump_cli("run", "pipeline.yaml", timeout=30)
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 5
    assert "pipeline 'ticks' finished: read 5, written 5" in result.stderr


def test_print_sink_output_goes_to_stdout(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: iterator, iterator: ['{"a": {"b": 1}}', '{"a": {"b": 2}}']}
            processors: [{type: json.parse}, {type: flatten}]
            sink: {type: print}
        """,
    )
    result = pump_cli("run", "pipeline.yaml", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'a.b': 1}", "{'a.b': 2}"]
    assert result.stderr == ""  # --quiet: no progress, no summary


def test_a_python_function_processor_from_the_users_module(pump_cli, tmp_path):
    (tmp_path / "myfuncs.py").write_text("def shout(event):\n    return event.upper()\n")
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: iterator, iterator: [a, b]}
            processors: [{type: python, function: "myfuncs:shout"}]
            sink: {type: print}
        """,
    )
    result = pump_cli("run", "pipeline.yaml", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["A", "B"]


def test_run_with_an_ini_config_file_under_the_yaml(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers, count: 3}
            processors: [{type: test.add, id: add}]
            sink: {type: test.jsonl, path: out.jsonl}
        """,
    )
    (tmp_path / "my.conf").write_text("[pipeline:p:add]\namount = ${STEP:-100}\n")
    result = pump_cli("run", "pipeline.yaml", "-c", "my.conf")
    assert result.returncode == 0, result.stderr
    assert [e["n"] for e in read_jsonl(tmp_path / "out.jsonl")] == [100, 101, 102]


def test_an_app_that_cannot_start_exits_1(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers}
            sink: {type: test.jsonl, path: no/such/dir/out.jsonl}
        """,
    )
    result = pump_cli("run", "pipeline.yaml")
    assert result.returncode == 1
    assert "the application failed: FileNotFoundError" in result.stderr


INVALID = """
connections:
  db: {type: test.conn, url: "mem://x"}
pipelines:
  p:
    source: {type: test.numbers, colour: blue}
    processors:
      - {type: test.add, amount: many}
      - {type: test.fail}
      - {type: no.such}
    sink: {type: test.jsonl, path: "${NOT_SET_ANYWHERE}", connection: nodb}
"""


@pytest.mark.parametrize("command", ["run", "validate"])
def test_invalid_config_exits_2_listing_every_problem(pump_cli, tmp_path, command):
    write(tmp_path, INVALID)
    result = pump_cli(command, "pipeline.yaml")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 6, result.stderr
    assert (
        "pipeline.yaml:6: pipeline 'p' component 'test.numbers' (NumbersSource): "
        "key 'colour': unknown key" in result.stderr
    )
    assert (
        "pipeline.yaml:8: pipeline 'p' component 'test.add' (AddProcessor): "
        "key 'amount': Input should be a valid integer" in result.stderr
    )
    assert (
        "pipeline.yaml:9: pipeline 'p' component 'test.fail' (FailProcessor): "
        "key 'when': required key is missing" in result.stderr
    )
    assert (
        "pipeline.yaml:10: pipeline 'p' processor 'no.such': unknown processor type 'no.such'"
        in result.stderr
    )
    assert (
        "pipeline.yaml:11: pipeline 'p' sink 'test.jsonl': "
        "key 'path': environment variable NOT_SET_ANYWHERE is not set" in result.stderr
    )
    assert (
        "pipeline.yaml:11: pipeline 'p' sink 'test.jsonl': "
        "key 'connection': unknown connection 'nodb' (declared connections: db)" in result.stderr
    )
    assert not (tmp_path / "out.jsonl").exists()


def test_validate_reports_the_pipelines_and_starts_nothing(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        connections:
          db: {type: test.conn, url: "mem://x"}
        pipelines:
          p:
            source: {type: test.connected, connection: db}
            processors: [{type: test.add, amount: 1}]
            sink: {type: test.jsonl, path: out.jsonl}
        """,
    )
    result = pump_cli("validate", "pipeline.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pipeline.yaml: valid — 1 pipeline(s), 1 connection(s)",
        "  p: test.connected → test.add → test.jsonl",
    ]
    assert not (tmp_path / "out.jsonl").exists()  # the sink was never started


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["run"],
        ["run", "pipeline.yaml", "--progress", "sometimes"],
        ["validate", "a.yaml", "b.yaml"],
    ],
)
def test_bad_usage_exits_2(pump_cli, args):
    result = pump_cli(*args)
    assert result.returncode == 2
    assert "usage: pump" in result.stderr


def test_a_missing_file_exits_2(pump_cli):
    result = pump_cli("validate", "absent.yaml")
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr and "cannot read it" in result.stderr


def test_validate_with_an_ini_file_reports_its_bad_values_and_unused_sections(pump_cli, tmp_path):
    write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers}
            processors: [{type: test.add, id: add, amount: 1}]
            sink: {type: "null"}
        """,
    )
    (tmp_path / "bad.conf").write_text(
        "[pipeline:p]\nmax_in_flight = lots\n[pipeline:p:add]\nfield = x\n"
    )
    bad = pump_cli("validate", "pipeline.yaml", "-c", "bad.conf")
    assert bad.returncode == 2
    assert (
        "pipeline 'p': key 'max_in_flight': Input should be a valid integer, unable to parse "
        "string as an integer (got 'lots') (from bad.conf [pipeline:p])" in bad.stderr
    )
    (tmp_path / "typo.conf").write_text("[pipeline:p:ad]\namount = 2\n[connection:nope]\nx = 1\n")
    typo = pump_cli("validate", "pipeline.yaml", "-c", "typo.conf")
    assert typo.returncode == 0, typo.stderr
    assert "typo.conf: section [pipeline:p:ad] matches nothing" in typo.stderr
    assert "typo.conf: section [connection:nope] matches nothing" in typo.stderr


def test_the_console_script_imports_python_functions_beside_the_yaml_file(tmp_path):
    """`pump run some/dir/p.yaml` finds `function: "mod:f"` in some/dir, as `python -m` would."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = shutil.which("pump", path=str(Path(sys.executable).parent))
    assert script, "the pump console script is installed beside the interpreter"
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "job_functions_for_test.py").write_text(
        "def items():\n    return [1, 2, 3]\n\ndef double(event):\n    return event * 2\n"
    )
    write(
        folder,
        """
        pipelines:
          job:
            source: {type: iterator, iterator: "job_functions_for_test:items"}
            processors:
              - {type: python, function: "job_functions_for_test:double"}
            sink: {type: print}
        """,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH",) and not k.startswith("PUMP_")
    }
    result = subprocess.run(
        [script, "run", "--progress", "off", str(folder / "pipeline.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "4", "6"]
