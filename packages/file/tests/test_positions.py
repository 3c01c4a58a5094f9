"""Saved read positions: advanced only over done batches, saved atomically, resumed exactly;
a corrupt or foreign position means reading again from the start, never skipping."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import orjson

import pump
from pump_file import FileLineSource
from pump_file.positions import Position, PositionStore


class FailAfter(pump.Sink):
    """Writes `ok` batches, then refuses every write."""

    def __init__(self, app, pipeline, ok: int):
        super().__init__(app, pipeline, "fail_after")
        self.ok = ok
        self.events: list = []

    def write(self, events, contexts):
        if self.ok <= 0:
            raise OSError("the destination is gone")
        self.ok -= 1
        self.events.extend(events)


def numbered(path: Path, n: int) -> Path:
    path.write_text("".join(f"line {i}\n" for i in range(1, n + 1)))
    return path


async def run_failing_then_complete(
    tmp_path: Path, fx, config: dict, ok: int
) -> tuple[list, list, list]:
    """A run whose sink fails after `ok` batches, then a normal run; (first, second, contexts)."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop", "sink_retries": 0})
    pipeline.build(
        FileLineSource(app, pipeline, "src", config=config), sink := FailAfter(app, pipeline, ok)
    )
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 1
    events, contexts, _ = await fx.read_all(FileLineSource, config)
    return sink.events, events, contexts


async def test_after_a_failure_the_next_run_resumes_after_the_last_done_batch(tmp_path, fx):
    numbered(tmp_path / "a.log", 1000)
    config = {"path": str(tmp_path / "a.log"), "batch_size": 100, "read_size": 512}
    first, second, contexts = await run_failing_then_complete(tmp_path, fx, config, ok=3)
    assert first == [f"line {i}" for i in range(1, 301)]
    assert second == [f"line {i}" for i in range(301, 1001)]  # nothing lost, nothing again
    assert contexts[0]["file_line"] == 301  # line numbers continue
    assert fx.files(tmp_path) == ["a.log-processed"]  # position file removed when done


async def test_a_graceful_stop_gives_the_file_back_with_its_position(tmp_path, fx):
    numbered(tmp_path / "a.log", 1000)
    config = {"path": str(tmp_path / "a.log"), "batch_size": 100, "read_size": 512}
    app, _, _, sink = fx.source_pipeline(FileLineSource, config, {"max_in_flight": 200})
    sink.block()
    await app.start()
    await asyncio.sleep(0.2)
    sink.release()
    await app.stop(timeout=0.0001)  # some batches are done, some are still in flight
    assert "a.log" in fx.files(tmp_path)  # renamed back from a.log-locked
    store = PositionStore("p.src")
    position = store.load(str(tmp_path / "a.log"))
    done = len(sink.events)
    assert position is not None and position.line == done + 1
    events, _, _ = await fx.read_all(FileLineSource, config)
    assert events[0] == f"line {done + 1}" and events[-1] == "line 1000"


async def test_a_corrupt_position_means_reading_from_the_start(tmp_path, fx, caplog):
    numbered(tmp_path / "a.log", 10)
    os.rename(tmp_path / "a.log", tmp_path / "a.log-locked")  # left by a pump that died
    position_file = Path(PositionStore("p.src").path_for(str(tmp_path / "a.log")))
    position_file.write_bytes(b'{"version": 1, "offset": 4')  # torn
    with caplog.at_level(logging.WARNING):
        events, _, _ = await fx.read_all(FileLineSource, {"path": str(tmp_path / "a.log")})
    assert events == [f"line {i}" for i in range(1, 11)]
    assert "corrupt" in caplog.text
    assert (tmp_path / (position_file.name + ".corrupt")).exists()


async def test_a_position_of_another_file_by_the_same_name_is_ignored(tmp_path, fx):
    log = numbered(tmp_path / "a.log", 10)
    st = os.stat(log)
    PositionStore("p.src").save(
        str(log), Position(offset=30, line=5, ino=st.st_ino + 1, dev=st.st_dev)
    )
    events, _, _ = await fx.read_all(FileLineSource, {"path": str(log)})
    assert events[0] == "line 1" and len(events) == 10


async def test_a_position_past_the_end_of_a_shrunk_file_means_reading_from_the_start(tmp_path, fx):
    log = numbered(tmp_path / "a.log", 3)
    st = os.stat(log)
    PositionStore("p.src").save(
        str(log), Position(offset=10_000, line=500, ino=st.st_ino, dev=st.st_dev)
    )
    events, contexts, _ = await fx.read_all(FileLineSource, {"path": str(log)})
    assert events == ["line 1", "line 2", "line 3"] and contexts[0]["file_line"] == 1


async def test_positions_are_saved_atomically_where_configured(tmp_path, fx):
    numbered(tmp_path / "a.log", 50)
    positions = tmp_path / "positions"
    positions.mkdir()
    config = {"path": str(tmp_path / "a.log"), "batch_size": 10, "position_dir": str(positions)}
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop", "sink_retries": 0})
    pipeline.build(FileLineSource(app, pipeline, "src", config=config), FailAfter(app, pipeline, 2))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 1
    assert fx.files(positions) == [".a.log.p.src.pos"]  # no temporary file left
    record = orjson.loads((positions / ".a.log.p.src.pos").read_bytes())
    assert record["line"] == 21 and record["offset"] == len(
        "".join(f"line {i}\n" for i in range(1, 21))
    )
    assert record["file"] == str(tmp_path / "a.log")


async def test_with_on_reject_fail_a_rejected_file_is_set_aside(tmp_path, fx):
    numbered(tmp_path / "a.log", 100)
    numbered(tmp_path / "b.log", 5)
    config = {"path": str(tmp_path / "a.log"), "batch_size": 10, "on_reject": "fail"}
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop", "sink_retries": 0})
    pipeline.build(FileLineSource(app, pipeline, "src", config=config), FailAfter(app, pipeline, 2))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 1
    assert "a.log-failed" in fx.files(tmp_path)
    # renamed back after a fix, it resumes where it failed
    os.rename(tmp_path / "a.log-failed", tmp_path / "a.log")
    events, _, _ = await fx.read_all(FileLineSource, config)
    assert events[0] == "line 21" and events[-1] == "line 100"


async def test_temporary_copies_a_killed_save_left_go_when_the_file_is_done(tmp_path, fx):
    numbered(tmp_path / "a.log", 10)
    store = PositionStore("p.src")
    position = store.path_for(str(tmp_path / "a.log"))
    # write_atomic's temporary files of two processes killed while saving the position
    for pid in (4242, 77):
        Path(f"{position}.{pid}.tmp").write_bytes(b'{"version": 1, "offs')
    Path(f"{position}.x.tmp").write_bytes(b"not one of them")
    config = {"path": str(tmp_path / "a.log")}
    events, _, _ = await fx.read_all(FileLineSource, config)
    assert events == [f"line {i}" for i in range(1, 11)]
    assert fx.files(tmp_path) == [".a.log.p.src.pos.x.tmp", "a.log-processed"]
