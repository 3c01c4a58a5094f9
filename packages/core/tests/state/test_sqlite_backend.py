"""The SQLite backend: durable checkpoints in state_dir, only changed keys, one pipeline each."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3

import pytest

import pump
from pump.state.backend import PartitionChanges, Snapshot
from pump.state.sqlite import SQLiteBackend, StateDirError


def rows(state_dir) -> dict:
    db = sqlite3.connect(f"{state_dir}/state.sqlite3")
    try:
        out: dict = {}
        for processor, partition, key, value in db.execute("SELECT * FROM state"):
            out.setdefault((processor, partition), {})[pickle.loads(key)] = pickle.loads(value)
        return out
    finally:
        db.close()


async def test_state_dir_makes_sqlite_the_backend_and_survives_a_restart(tmp_path, statekit):
    config = {"state_dir": str(tmp_path / "st")}
    app, pipeline, *_ = statekit.build(statekit.records_of({"p0": range(30)}), config=config)
    assert await statekit.run(app) == 0
    assert isinstance(pipeline.state_backend(), SQLiteBackend)
    assert rows(tmp_path / "st") == {("CountPerKey", "p0"): {"a": 10, "b": 10, "c": 10}}
    db = sqlite3.connect(tmp_path / "st" / "state.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()
    # a new process: the same state_dir restores, the replayed 20..29 are not counted again
    app, *_ = statekit.build(statekit.records_of({"p0": range(20, 45)}), config=config)
    assert await statekit.run(app) == 0
    assert rows(tmp_path / "st") == {("CountPerKey", "p0"): {"a": 15, "b": 15, "c": 15}}


async def test_a_checkpoint_writes_only_the_changed_keys(tmp_path, statekit):
    written: list[Snapshot] = []

    class Recording(SQLiteBackend):
        def write(self, snapshot):
            written.append(snapshot)
            super().write(snapshot)

    keys = [f"k{i}" for i in range(1000)]
    records = [("p0", o, keys[o]) for o in range(1000)]
    backend = Recording(str(tmp_path))
    app, pipeline, source, _processor, _sink = statekit.build(
        records, config={"checkpoint_interval": 3600}, backend=backend
    )
    await app.start()
    await asyncio.sleep(0.05)
    assert await pipeline.checkpoint() is True
    assert sum(len(c.upserts) for c in written[-1].changes) == 1000
    # two more events, of the same key: one row
    pipeline.process_batch(
        ["k7", "k7"],
        contexts=[{"part": "p0", "offset": 1000}, {"part": "p0", "offset": 1001}],
        source=source,
        token=("p0", 1000, 1001),
    )
    assert await pipeline.checkpoint() is True
    [change] = written[-1].changes
    assert [pickle.loads(k) for k, _ in change.upserts] == ["k7"]
    assert change.positions == {"p0": 1001}
    assert await app.stop() == 0
    assert rows(tmp_path)[("CountPerKey", "p0")]["k7"] == 3


async def test_deleted_keys_are_deleted_from_the_checkpoint(tmp_path, statekit):
    class CountThenForget(statekit.CountPerKey):
        def process(self, context, event):
            if event == "c":
                self.state.delete("a")
                return None
            return super().process(context, event)

    config = {"state_dir": str(tmp_path)}
    app, *_ = statekit.build(statekit.records_of({"p0": range(2)}), CountThenForget, config=config)
    assert await statekit.run(app) == 0
    assert rows(tmp_path) == {("CountThenForget", "p0"): {"a": 1, "b": 1}}
    app, *_ = statekit.build(
        statekit.records_of({"p0": range(2, 3)}), CountThenForget, config=config
    )
    assert await statekit.run(app) == 0
    assert rows(tmp_path) == {("CountThenForget", "p0"): {"b": 1}}


def test_a_state_dir_of_another_pipeline_is_refused(tmp_path, statekit):
    SQLiteBackend(str(tmp_path)).open("first")
    with pytest.raises(StateDirError, match="holds the state of pipeline 'first'"):
        SQLiteBackend(str(tmp_path)).open("second")


def test_a_written_snapshot_is_read_back_per_partition(tmp_path, statekit):
    backend = SQLiteBackend(str(tmp_path), synchronous="NORMAL")
    backend.open("p")
    backend.write(
        Snapshot(
            [
                PartitionChanges("c", "t[0]", [(b"k", b"v")], [], {"t[0]": 41}),
                PartitionChanges("c", "t[1]", [(b"x", b"y")], [], {"t[1]": 7}),
            ]
        )
    )
    assert backend.load("c", "t[0]").rows == {b"k": b"v"}
    assert backend.load("c", "t[0]").positions == {"t[0]": 41}
    assert backend.load("c", "t[2]").rows == {}
    backend.write(Snapshot([PartitionChanges("c", "t[0]", [], [b"k"], {}, ["t[0]"])]))
    assert backend.load("c", "t[0]").rows == {} and backend.load("c", "t[0]").positions == {}
    backend.close()


async def test_unpicklable_state_stops_checkpoints_with_the_key_named(statekit):
    class Bad(pump.Processor):
        stateful = True
        consumes_events = True

        def process(self, context, event):
            self.state.set(event, lambda: None)

    app, pipeline, source, _processor, _sink = statekit.build(
        statekit.records_of({"p0": range(3)}), Bad
    )
    await app.start()
    await asyncio.sleep(0.05)
    with pytest.raises(Exception, match=r"state key '[abc]' of partition 'p0' cannot be stored"):
        await pipeline.checkpoint()
    assert source.acknowledged == []  # nothing acknowledged without a checkpoint
    await app.stop()
    assert source.acknowledged == [] and source.rejected
