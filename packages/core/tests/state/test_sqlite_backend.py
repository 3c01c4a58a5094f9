"""The SQLite backend: durable checkpoints in state_dir, only changed keys, one pipeline each."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3

import pytest

import pump
from pump.state import store
from pump.state.backend import PartitionChanges, Snapshot, encode_chunk
from pump.state.sqlite import SQLiteBackend, StateDirError
from pump.testing.state import read_state


def rows(state_dir) -> dict:
    return read_state(state_dir)


def chunk(change: PartitionChanges) -> tuple[dict, list]:
    return pickle.loads(change.data)


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
    [change] = written[-1].changes
    assert len(chunk(change)[0]) == 1000
    # two more events, of the same key: a chunk of that key only
    pipeline.process_batch(
        ["k7", "k7"],
        contexts=[{"part": "p0", "offset": 1000}, {"part": "p0", "offset": 1001}],
        source=source,
        token=("p0", 1000, 1001),
    )
    assert await pipeline.checkpoint() is True
    [change] = written[-1].changes
    assert chunk(change) == ({"k7": 3}, []) and not change.base
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
                PartitionChanges("c", "t[0]", encode_chunk({"k": 1}, []), False, {"t[0]": 41}),
                PartitionChanges("c", "t[1]", encode_chunk({"x": 2}, []), False, {"t[1]": 7}),
            ]
        )
    )
    backend.write(Snapshot([PartitionChanges("c", "t[0]", encode_chunk({"j": 3}, []), seq=1)]))
    assert backend.load("c", "t[0]").values() == {"k": 1, "j": 3}
    assert backend.load("c", "t[0]").positions == {"t[0]": 41}
    assert backend.load("c", "t[1]").values() == {"x": 2}
    assert backend.load("c", "t[2]").values() == {}
    backend.write(Snapshot([PartitionChanges("c", "t[0]", encode_chunk({}, ["k"]), seq=2)]))
    assert backend.load("c", "t[0]").values() == {"j": 3}
    # a base replaces every chunk before it
    backend.write(
        Snapshot([PartitionChanges("c", "t[0]", encode_chunk({"z": 9}, []), True, seq=3)])
    )
    assert len(backend.load("c", "t[0]").chunks) == 1
    assert backend.load("c", "t[0]").values() == {"z": 9}
    assert backend.load("c", "t[0]").seq == 3
    backend.write(Snapshot([PartitionChanges("c", "t[0]", None, False, {}, ["t[0]"])]))
    assert backend.load("c", "t[0]").positions == {}
    assert sorted(backend.partitions()) == [("c", "t[0]"), ("c", "t[1]")]
    backend.close()


async def test_deltas_are_compacted_into_a_base(tmp_path, statekit, monkeypatch):
    monkeypatch.setattr(store, "MAX_DELTAS", 3)
    written: list[Snapshot] = []

    class Recording(SQLiteBackend):
        def write(self, snapshot):
            written.append(snapshot)
            super().write(snapshot)

    backend = Recording(str(tmp_path))
    app, pipeline, source, _processor, _sink = statekit.build(
        [], config={"checkpoint_interval": 3600}, backend=backend
    )
    await app.start()

    def count(keys, offset):
        pipeline.process_batch(
            keys,
            contexts=[{"part": "p0", "offset": offset + i} for i in range(len(keys))],
            source=source,
            token=("p0", offset, offset + len(keys) - 1),
        )

    count([f"k{i}" for i in range(10)], 0)  # every key new: the whole partition, a base
    assert await pipeline.checkpoint() is True
    for offset in range(10, 15):  # one key of ten at a time: deltas, until three of them
        count(["k0"], offset)
        assert await pipeline.checkpoint() is True
    assert [c.base for s in written for c in s.changes] == [True, False, False, False, True, False]
    assert chunk(written[2].changes[0]) == ({"k0": 3}, [])
    assert chunk(written[4].changes[0])[0] == {"k0": 5, **{f"k{i}": 1 for i in range(1, 10)}}
    assert await app.stop() == 0
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    assert db.execute("SELECT base FROM chunks ORDER BY seq").fetchall() == [(1,), (0,)]
    db.close()
    assert rows(tmp_path)[("CountPerKey", "p0")] == {"k0": 6, **{f"k{i}": 1 for i in range(1, 10)}}


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
    with pytest.raises(Exception, match="the state of partition 'p0' cannot be stored"):
        await pipeline.checkpoint()
    assert source.acknowledged == []  # nothing acknowledged without a checkpoint
    await app.stop()
    assert source.acknowledged == [] and source.rejected


async def test_an_unusable_state_dir_fails_the_start_naming_pipeline_and_folder(tmp_path, statekit):
    (tmp_path / "file").write_text("not a folder")
    app, *_ = statekit.build([], config={"state_dir": str(tmp_path / "file" / "state")})
    with pytest.raises(StateDirError, match=r"pipeline 'p': state_dir '.*file/state': cannot open"):
        await app.start()
