"""A file source that finds nothing to read says so: a warning naming the pattern and the reason,
counted in the metrics and the run summary; `on_no_files: fail` makes it an error."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest

import pump
from pump.testing import CollectingSink, wait_until
from pump_file import FileCSVSource, FileLineSource


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def run_source(tmp_path, config, source_cls=FileLineSource):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = source_cls(app, pipeline, "src", config=config)
    pipeline.build(source, CollectingSink(app, pipeline, "collect"))
    app.add_pipeline(pipeline)
    code = await app.main()
    return code, pipeline, source


async def test_a_missing_folder_is_warned_about_and_counted(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, pipeline, source = await run_source(tmp_path, {"path": "nodir/*.csv"}, FileCSVSource)
    assert code == 0
    assert warnings_of(caplog) == [
        "pipeline 'p' component 'src' (FileCSVSource): nothing to read: "
        "path 'nodir/*.csv': no such folder 'nodir'"
    ]
    assert source.counters.warnings == 1
    metrics = pipeline.metrics()
    assert metrics["warnings"] == 1
    assert metrics["components"]["src"]["warnings"] == 1


async def test_a_pattern_that_matches_nothing_is_warned_about(tmp_path, caplog):
    (tmp_path / "notes.txt").write_text("not a log\n")
    code, pipeline, _ = await run_source(tmp_path, {"path": str(tmp_path / "*.log")})
    assert code == 0
    [message] = warnings_of(caplog)
    assert message.endswith(f"nothing to read: path '{tmp_path}/*.log': no file matches")
    assert pipeline.metrics()["warnings"] == 1


async def test_every_pattern_gets_its_reason(tmp_path, caplog):
    (tmp_path / "a.log-processed").write_text("done\n")
    patterns = [str(tmp_path / "missing" / "*.log"), str(tmp_path / "*.log")]
    await run_source(tmp_path, {"path": patterns})
    [message] = warnings_of(caplog)
    assert message.endswith(
        f"nothing to read: path '{patterns[0]}': no such folder '{tmp_path / 'missing'}'; "
        f"path '{patterns[1]}': 1 file already processed"
    )


async def test_files_already_processed_in_an_earlier_run_are_the_reason(tmp_path, caplog):
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text("x\n")
    config = {"path": str(tmp_path / "*.log")}
    code, pipeline, _ = await run_source(tmp_path, config)
    assert code == 0 and pipeline.metrics()["events_in"] == 2
    assert warnings_of(caplog) == []  # the first run read them: nothing to say
    code, pipeline, _ = await run_source(tmp_path, config)
    assert code == 0
    [message] = warnings_of(caplog)
    assert message.endswith("2 files already processed")
    assert pipeline.metrics()["warnings"] == 1


async def test_kept_files_unchanged_since_they_were_read_are_already_processed(tmp_path, caplog):
    for name in ("a.log", "b.log", "c.log"):
        (tmp_path / name).write_text("x\n")
    config = {"path": str(tmp_path / "*.log"), "post_process": "keep"}
    await run_source(tmp_path, config)
    assert warnings_of(caplog) == []
    code, pipeline, _ = await run_source(tmp_path, config)
    assert code == 0 and pipeline.metrics()["events_in"] == 0
    [message] = warnings_of(caplog)
    assert message.endswith("3 files already processed (kept; read again when they change)")


async def test_files_set_aside_or_filtered_out_are_named_too(tmp_path, caplog):
    (tmp_path / "a.log-failed").write_text("x\n")
    (tmp_path / "b.log").write_text("x\n")
    (tmp_path / "c.log").write_text("x\n")
    await run_source(tmp_path, {"path": str(tmp_path / "*.log"), "exclude": ["b.*", "c.*"]})
    [message] = warnings_of(caplog)
    assert message.endswith("1 file set aside as failed, 2 files left out by include/exclude")


async def test_on_no_files_fail_stops_the_pipeline_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, pipeline, source = await run_source(
        tmp_path, {"path": "nodir/*.csv", "on_no_files": "fail"}, FileCSVSource
    )
    assert code == 1
    assert pipeline.error is not None
    error = pipeline.error.as_dict()
    assert error["component"] == "src"
    assert "nothing to read: path 'nodir/*.csv': no such folder 'nodir'" in error["error"]
    assert source.counters.errors == 1 and pipeline.metrics()["errors"] == 1


async def test_a_watching_source_warns_once_about_a_missing_folder_and_keeps_watching(
    tmp_path, caplog
):
    folder = tmp_path / "inbox"
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    config = {"path": str(folder / "*.log"), "scan_interval": 0.02, "on_no_files": "fail"}
    source = FileLineSource(app, pipeline, "src", config=config)
    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: source.counters.warnings == 1, 5)
        folder.mkdir()
        (folder / "a.log").write_text("late\n")
        assert await wait_until(lambda: sink.events == ["late"], 5)
        # files may still come to a watched folder: one warning, no error
        assert source.counters.warnings == 1 and not pipeline.is_error()
        assert [m for m in warnings_of(caplog) if "nothing to read" in m] == [
            f"pipeline 'p' component 'src' (FileLineSource): nothing to read yet: "
            f"path '{folder}/*.log': no such folder '{folder}'"
        ]
    finally:
        await app.stop()


async def test_a_following_source_warns_about_a_missing_folder_too(tmp_path, caplog):
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    config = {"path": str(tmp_path / "logs" / "*.log"), "follow": True, "scan_interval": 0.02}
    source = FileLineSource(app, pipeline, "src", config=config)
    pipeline.build(source, CollectingSink(app, pipeline, "collect"))
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: source.counters.warnings == 1, 5)
        assert f"nothing to read yet: path '{tmp_path}/logs/*.log': no such folder" in (
            "".join(warnings_of(caplog))
        )
    finally:
        await app.stop()


async def test_an_existing_empty_folder_being_watched_is_not_a_warning(tmp_path, caplog):
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    config = {"path": str(tmp_path / "*.log"), "scan_interval": 0.02}
    source = FileLineSource(app, pipeline, "src", config=config)
    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        await asyncio.sleep(0.1)  # a few empty scans first
        (tmp_path / "a.log").write_text("one\n")
        assert await wait_until(lambda: sink.events == ["one"], 5)
        assert source.counters.warnings == 0 and warnings_of(caplog) == []
    finally:
        await app.stop()


def pump_run(tmp_path, yaml_text):
    (tmp_path / "p.yaml").write_text(textwrap.dedent(yaml_text))
    return subprocess.run(
        [sys.executable, "-m", "pump", "run", "p.yaml", "--progress", "off"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pump_run_warns_and_counts_it_in_the_summary(tmp_path):
    done = pump_run(
        tmp_path,
        """
        pipelines:
          csv:
            source: {type: file.csv, path: "nodir/*.csv"}
            sink: {type: file.jsonl, path: out.jsonl}
        """,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "pipeline 'csv' component 'file.csv' (FileCSVSource): nothing to read: "
        "path 'nodir/*.csv': no such folder 'nodir'"
    ) in done.stderr
    assert (
        "pipeline 'csv' finished: read 0, written 0, dropped 0, dead-lettered 0, errors 0, "
        "warnings 1" in done.stderr
    )


def test_pump_run_with_on_no_files_fail_exits_1_naming_the_reason(tmp_path):
    done = pump_run(
        tmp_path,
        """
        pipelines:
          csv:
            source: {type: file.csv, path: "nodir/*.csv", on_no_files: fail}
            sink: {type: file.jsonl, path: out.jsonl}
        """,
    )
    assert done.returncode == 1, done.stderr
    assert "a pipeline failed (exit 1)" in done.stderr
    assert "nothing to read: path 'nodir/*.csv': no such folder 'nodir'" in done.stderr
    assert "pipeline 'csv' failed" in done.stderr
