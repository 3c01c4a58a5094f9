"""FileLineSource and what every file source shares: finding files, encodings, compression,
contexts, and the -locked/-processed/-failed lifecycle with its post-processing options."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import threading
from pathlib import Path

import pytest

from pump.metrics import metric_families
from pump_file import FileJSONLinesSource, FileLineSource


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + newline for line in lines).encode(encoding))
    return path


async def test_lines_of_every_matching_file_arrive_in_order_with_their_context(tmp_path, fx):
    write_lines(tmp_path / "a.log", [f"a{i}" for i in range(3000)])
    write_lines(tmp_path / "b.log", ["b0", "b1"])
    (tmp_path / "c.txt").write_text("not matched\n")
    events, contexts, source = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "*.log"), "batch_size": 100, "read_size": 4096}
    )
    assert events == [f"a{i}" for i in range(3000)] + ["b0", "b1"]
    assert contexts[0] == {"file_path": str(tmp_path / "a.log"), "file_line": 1}
    assert contexts[2999] == {"file_path": str(tmp_path / "a.log"), "file_line": 3000}
    assert contexts[3001] == {"file_path": str(tmp_path / "b.log"), "file_line": 2}
    assert fx.files(tmp_path) == ["a.log-processed", "b.log-processed", "c.txt"]
    assert source.files_done == 2


@pytest.mark.parametrize("cls", [FileLineSource, FileJSONLinesSource])
async def test_batches_already_read_are_not_sent_to_a_worker_thread(tmp_path, fx, cls, monkeypatch):
    write_lines(tmp_path / "a.log", [f'"{i:05d}"' for i in range(5000)])  # 8 bytes a line
    trips = []
    open_reading = cls.open_reading

    def counting_reading(self, *args):
        reading = open_reading(self, *args)
        original = reading.next_batch

        def spy(limit, final):
            trips.append(threading.current_thread() is threading.main_thread())
            return original(limit, final)

        reading.next_batch = spy
        return reading

    monkeypatch.setattr(cls, "open_reading", counting_reading)
    events, _, _ = await fx.read_all(
        cls, {"path": str(tmp_path / "*.log"), "batch_size": 100, "read_size": 8192}
    )
    assert len(events) == 5000
    # 40 KB in reads of 8 KiB: a worker thread for each read, the other batches from memory
    in_threads = trips.count(False)
    assert 5 <= in_threads <= 12 and trips.count(True) >= 40, trips


async def test_several_patterns_recursive_globs_include_and_exclude(tmp_path, fx):
    write_lines(tmp_path / "x" / "1.log", ["x1"])
    write_lines(tmp_path / "x" / "deep" / "er" / "2.log", ["x2"])
    write_lines(tmp_path / "x" / "deep" / "skip.log", ["skipped"])
    write_lines(tmp_path / "y" / "3.log", ["y3"])
    write_lines(tmp_path / "y" / "3.tmp", ["not included"])
    events, _, _ = await fx.read_all(
        FileLineSource,
        {
            "path": [str(tmp_path / "x" / "**" / "*.log"), str(tmp_path / "y" / "*")],
            "include": ["*.log"],
            "exclude": "skip.*",
        },
    )
    assert sorted(events) == ["x1", "x2", "y3"]


async def test_crlf_files_last_line_without_newline_and_other_encodings(tmp_path, fx):
    write_lines(tmp_path / "dos.txt", ["één", "twee"], encoding="latin-1", newline="\r\n")
    (tmp_path / "tail.txt").write_bytes("één\r\nno newline at the end".encode("latin-1"))
    events, contexts, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "*.txt"), "encoding": "latin-1"}
    )
    assert events == ["één", "twee", "één", "no newline at the end"]
    assert contexts[-1]["file_line"] == 2


async def test_without_an_encoding_the_events_are_bytes(tmp_path, fx):
    (tmp_path / "raw.bin").write_bytes(b"\xff\xfe one\r\ntwo\n")
    events, _, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "raw.bin"), "encoding": ""}
    )
    assert events == [b"\xff\xfe one", b"two"]


@pytest.mark.parametrize(
    ("name", "compress"),
    [("log.gz", gzip.compress), ("log.bz2", bz2.compress), ("log.xz", lzma.compress)],
)
async def test_compressed_files_are_read_transparently(tmp_path, fx, name, compress):
    lines = [f"line {i} " + "x" * (i % 50) for i in range(20_000)]
    (tmp_path / name).write_bytes(compress("".join(f"{line}\n" for line in lines).encode()))
    events, contexts, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "log.*"), "read_size": 65536}
    )
    assert events == lines
    assert contexts[-1] == {"file_path": str(tmp_path / name), "file_line": 20_000}
    assert fx.files(tmp_path) == [f"{name}-processed"]


async def test_post_process_move(tmp_path, fx):
    write_lines(tmp_path / "in" / "a.log", ["a"])
    await fx.read_all(
        FileLineSource,
        {
            "path": str(tmp_path / "in" / "*.log"),
            "post_process": "move",
            "move_to": str(tmp_path / "done"),
        },
    )
    assert fx.files(tmp_path) == ["done/a.log"]


async def test_post_process_delete(tmp_path, fx):
    write_lines(tmp_path / "a.log", ["a"])
    events, _, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "*.log"), "post_process": "delete"}
    )
    assert events == ["a"] and fx.files(tmp_path) == []


async def test_post_process_rename_with_own_suffixes(tmp_path, fx):
    write_lines(tmp_path / "a.log", ["a"])
    await fx.read_all(
        FileLineSource,
        {"path": str(tmp_path / "*"), "processed_suffix": ".done", "locked_suffix": ".busy"},
    )
    assert fx.files(tmp_path) == ["a.log.done"]


async def test_kept_files_are_not_read_again_unless_they_grow(tmp_path, fx):
    log = write_lines(tmp_path / "a.log", ["one", "two"])
    config = {"path": str(tmp_path / "*.log"), "post_process": "keep"}
    assert (await fx.read_all(FileLineSource, config))[0] == ["one", "two"]
    assert fx.files(tmp_path) == [".a.log.p.src.pos", "a.log"]
    assert (await fx.read_all(FileLineSource, config))[0] == []
    with log.open("a") as f:
        f.write("three\n")
    events, contexts, _ = await fx.read_all(FileLineSource, config)
    assert events == ["three"] and contexts[0]["file_line"] == 3


async def test_an_unreadable_file_is_set_aside_as_failed_and_the_others_are_read(tmp_path, fx):
    (tmp_path / "a.log").write_bytes(b"good\n\xff\xff bad utf-8\n")
    write_lines(tmp_path / "b.log", ["b"])
    events, _, source = await fx.read_all(FileLineSource, {"path": str(tmp_path / "*.log")})
    assert events == ["b"]  # a.log's first batch held the undecodable line
    assert fx.files(tmp_path) == [".a.log.p.src.pos", "a.log-failed", "b.log-processed"]
    assert source.files_failed == 1 and source.counters.errors == 1
    assert source.files_done == 1
    counted = source.Pipeline.metrics()["components"][source.Id]
    assert (counted["files_done"], counted["files_failed"]) == (1, 1)
    families = metric_families(source.App.metrics())
    assert families["pump_component_files_failed"].value(pipeline="p", component=source.Id) == 1


async def test_decoding_errors_can_be_replaced(tmp_path, fx):
    (tmp_path / "a.log").write_bytes(b"ok\n\xff\n")
    events, _, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "a.log"), "encoding_errors": "replace"}
    )
    assert events == ["ok", "\ufffd"]


async def test_files_in_the_lifecycle_or_hidden_are_never_picked_up(tmp_path, fx):
    for name in ["a.log-processed", "b.log-failed", ".hidden.log", "c.log-locked"]:
        write_lines(tmp_path / name, [name])
    held = os.open(tmp_path / "c.log-locked", os.O_RDONLY)
    import fcntl

    fcntl.flock(held, fcntl.LOCK_EX)  # a live pump reads c.log
    try:
        events, _, _ = await fx.read_all(FileLineSource, {"path": str(tmp_path / "*")})
    finally:
        os.close(held)
    assert events == []
    assert fx.files(tmp_path) == [".hidden.log", "a.log-processed", "b.log-failed", "c.log-locked"]


async def test_without_lock_files_are_read_in_place(tmp_path, fx):
    write_lines(tmp_path / "a.log", ["a"])
    events, _, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "a.log"), "lock": False}
    )
    assert events == ["a"] and fx.files(tmp_path) == ["a.log-processed"]


async def test_with_a_scan_interval_files_dropped_later_are_read_too(tmp_path):
    import pump
    from pump.testing import wait_until

    write_lines(tmp_path / "a.log", ["a"])
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    from pump.testing import CollectingSink

    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(
        FileLineSource(
            app, pipeline, "src", config={"path": str(tmp_path / "*.log"), "scan_interval": 0.05}
        ),
        sink,
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: sink.events == ["a"], 5)
        write_lines(tmp_path / "b.log", ["b"])
        assert await wait_until(lambda: sink.events == ["a", "b"], 5)
        # the rename follows the acknowledgement: wait for it rather than race the stop
        done = ["a.log-processed", "b.log-processed"]
        assert await wait_until(lambda: sorted(os.listdir(tmp_path)) == done, 5)
    finally:
        await app.stop()
    assert sorted(os.listdir(tmp_path)) == done


async def test_files_can_be_read_oldest_first(tmp_path, fx):
    for name, age in (("b.log", 300), ("a.log", 100), ("c.log", 200)):
        write_lines(tmp_path / name, [name])
        os.utime(tmp_path / name, (1_700_000_000 - age, 1_700_000_000 - age))
    events, _, _ = await fx.read_all(
        FileLineSource, {"path": str(tmp_path / "*.log"), "order": "mtime"}
    )
    assert events == ["b.log", "c.log", "a.log"]
