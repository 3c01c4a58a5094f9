"""FileBlockSource (a file is one event) and FileBlockSink (an event is one file)."""

from __future__ import annotations

import os

import pytest

import pump
from pump.errors import ConfigError, PartialWriteError
from pump_file import FileBlockSink, FileBlockSource


async def test_each_file_is_one_bytes_event_with_its_name_and_size(tmp_path, fx):
    (tmp_path / "a.bin").write_bytes(b"\x00\x01binary\n")
    (tmp_path / "b.txt").write_text("text")
    events, contexts, _ = await fx.read_all(FileBlockSource, {"path": str(tmp_path / "*")})
    assert events == [b"\x00\x01binary\n", b"text"]
    assert contexts[0] == {
        "file_path": str(tmp_path / "a.bin"),
        "file_name": "a.bin",
        "file_size": 9,
    }


async def test_with_an_encoding_the_event_is_text(tmp_path, fx):
    (tmp_path / "a.txt").write_bytes("žluť".encode())
    events, _, _ = await fx.read_all(
        FileBlockSource, {"path": str(tmp_path / "a.txt"), "encoding": "utf-8"}
    )
    assert events == ["žluť"]


def test_an_unknown_encoding_is_refused_at_configuration(fx):
    with pytest.raises(ConfigError, match=r"key 'encoding': .*unknown encoding 'no-such'"):
        fx.source_pipeline(FileBlockSource, {"path": "x", "encoding": "no-such"})
    # '' (the default) means bytes
    assert fx.source_pipeline(FileBlockSource, {"path": "x"})[2].Config.encoding == ""


async def test_files_copied_through_source_and_sink_keep_name_and_content(tmp_path, fx):
    inbox = tmp_path / "in"
    inbox.mkdir()
    blobs = {f"f{i}.bin": os.urandom(1000 + i) for i in range(20)}
    for name, data in blobs.items():
        (inbox / name).write_bytes(data)
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        FileBlockSource(app, pipeline, "src", config={"path": str(inbox / "*.bin")}),
        FileBlockSink(
            app, pipeline, "copy", config={"path": str(tmp_path / "out" / "{context[file_name]}")}
        ),
    )
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == blobs


async def test_a_taken_name_is_never_overwritten(tmp_path, fx):
    (tmp_path / "x.dat").write_bytes(b"old")
    sink = await fx.write_all(FileBlockSink, {"path": str(tmp_path / "x.dat")}, [b"new1", "new2"])
    assert fx.files(tmp_path) == ["x-1.dat", "x-2.dat", "x.dat"]
    assert (tmp_path / "x.dat").read_bytes() == b"old" and (
        tmp_path / "x-2.dat"
    ).read_bytes() == b"new2"
    assert list(sink.published) == [str(tmp_path / "x-1.dat"), str(tmp_path / "x-2.dat")]


async def test_numbered_names_and_unwritable_events(tmp_path, fx):
    app_sink = await fx.write_all(
        FileBlockSink, {"path": str(tmp_path / "{n:03d}.bin")}, [b"a", b"b", b"c"]
    )
    assert fx.files(tmp_path) == ["000.bin", "001.bin", "002.bin"] and app_sink.published
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    sink = FileBlockSink(app, pipeline, "s", config={"path": str(tmp_path / "{n}.x")})
    await sink.start()
    with pytest.raises(PartialWriteError) as info:
        await sink.write([b"ok", 42], [{}, {}])
    assert list(info.value.errors) == [1] and (tmp_path / "0.x").read_bytes() == b"ok"


async def test_unfinished_files_of_a_stopped_sink_are_removed(tmp_path, fx):
    (tmp_path / ".a.bin.inprogress").write_bytes(b"half")
    await fx.write_all(FileBlockSink, {"path": str(tmp_path / "{n}.bin")}, [b"x"])
    assert fx.files(tmp_path) == ["0.bin"]
