"""Follow mode: tail files as they grow, through rotation and truncation, from saved positions."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pump
from pump.testing import CollectingSink, wait_until
from pump_file import FileCSVSource, FileLineSource, FileMultiLineSource

FAST = {"follow": True, "follow_interval": 0.02, "scan_interval": 0.05, "position_interval": 0.05}


@contextlib.asynccontextmanager
async def following(source_cls, config) -> AsyncIterator[CollectingSink]:
    """A running app whose source follows the files; yields the sink collecting the events."""
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(source_cls(app, pipeline, "src", config={**FAST, **config}), sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        yield sink
    finally:
        await app.stop()


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


async def until(sink, n: int) -> None:
    assert await wait_until(lambda: len(sink.events) >= n, 5), f"got {sink.events}"


async def test_lines_are_handed_over_as_they_are_written_and_only_when_whole(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\n")
    async with following(FileLineSource, {"path": str(log)}) as sink:
        await until(sink, 2)
        append(log, "three\nfo")
        await until(sink, 3)
        assert not await wait_until(lambda: len(sink.events) > 3, 0.2)  # "fo" is not a line yet
        append(log, "ur\n")
        await until(sink, 4)
        assert sink.events == ["one", "two", "three", "four"]
        assert [c["file_line"] for c in sink.contexts] == [1, 2, 3, 4]
        assert log.exists()  # a followed file is neither locked nor post-processed


async def test_rotation_finishes_the_old_file_then_reads_the_new_one(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\n")
    async with following(FileLineSource, {"path": str(log)}) as sink:
        await until(sink, 1)
        append(log, "old 2\nold 3 without newline")
        os.rename(log, tmp_path / "app.log.1")  # rotated
        log.write_text("new 1\nnew 2\n")
        await until(sink, 5)
        assert sink.events == ["old 1", "old 2", "old 3 without newline", "new 1", "new 2"]
        assert [c["file_line"] for c in sink.contexts][-2:] == [1, 2]


async def test_a_truncated_file_is_read_again_from_its_start(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a long first line\nand a second one\n")
    async with following(FileLineSource, {"path": str(log)}) as sink:
        await until(sink, 2)
        with log.open("r+") as f:
            f.truncate(0)
        await wait_until(lambda: False, 0.1)
        log.write_text("x\n")
        await until(sink, 3)
        assert sink.events[2] == "x" and sink.contexts[2]["file_line"] == 1


async def test_a_restart_continues_from_the_saved_position(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("1\n2\n")
    async with following(FileLineSource, {"path": str(log)}) as sink:
        await until(sink, 2)
    append(log, "3\n")
    async with following(FileLineSource, {"path": str(log)}) as sink:
        await until(sink, 1)
        assert not await wait_until(lambda: len(sink.events) > 1, 0.2)
        assert sink.events == ["3"] and sink.contexts[0]["file_line"] == 3


async def test_start_at_end_skips_what_was_there(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old\n" * 100)
    async with following(FileLineSource, {"path": str(log), "start_at": "end"}) as sink:
        await wait_until(lambda: False, 0.15)
        append(log, "new\n")
        await until(sink, 1)
        assert sink.events == ["new"] and sink.contexts[0]["file_line"] == 101


async def test_new_files_matching_the_pattern_are_followed_too(tmp_path):
    (tmp_path / "a.log").write_text("a\n")
    async with following(FileLineSource, {"path": str(tmp_path / "*.log")}) as sink:
        await until(sink, 1)
        (tmp_path / "b.log").write_text("b\n")
        await until(sink, 2)
        assert sorted(sink.events) == ["a", "b"]


async def test_the_last_multi_line_event_is_handed_over_when_the_file_stays_quiet(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("E1\n more\nE2\n more\n")
    async with following(FileMultiLineSource, {"path": str(log), "start_pattern": "E"}) as sink:
        await until(sink, 1)
        assert sink.events == ["E1\n more"]
        await until(sink, 2)  # E2 could still grow; after a quiet second it is handed over
        assert sink.events == ["E1\n more", "E2\n more"]


async def test_a_csv_record_written_in_two_goes_comes_out_whole(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text('id,text\n1,"first\n')
    async with following(FileCSVSource, {"path": str(table)}) as sink:
        assert not await wait_until(lambda: bool(sink.events), 0.2)
        append(table, 'half"\n2,x\n')
        await until(sink, 2)
        assert sink.events == [{"id": "1", "text": "first\nhalf"}, {"id": "2", "text": "x"}]
        assert [c["file_line"] for c in sink.contexts] == [2, 4]


async def test_a_compressed_file_is_read_once_not_tailed(tmp_path):
    import gzip

    (tmp_path / "old.log.gz").write_bytes(gzip.compress(b"x\ny\n"))
    async with following(FileLineSource, {"path": str(tmp_path / "*.gz")}) as sink:
        await until(sink, 2)
        assert not await wait_until(
            lambda: len(sink.events) > 2, 0.3
        )  # rescans do not read it again
    async with following(FileLineSource, {"path": str(tmp_path / "*.gz")}) as sink:
        assert not await wait_until(lambda: bool(sink.events), 0.3)  # nor does a restart
