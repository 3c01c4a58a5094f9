"""write_atomic: the old content or the new, never half, and no temporary file left."""

from __future__ import annotations

import os

import pytest

from pump.atomicfile import write_atomic


@pytest.mark.parametrize("fsync, sync_folder", [(True, True), (True, False), (False, False)])
def test_replaces_the_content_and_leaves_no_temporary_file(tmp_path, fsync, sync_folder):
    path = tmp_path / "sub" / "position.json"
    write_atomic(str(path), b"old", fsync=fsync, sync_folder=sync_folder)
    write_atomic(str(path), b"new" * 100_000, fsync=fsync, sync_folder=sync_folder)
    assert path.read_bytes() == b"new" * 100_000
    assert os.listdir(path.parent) == ["position.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / "position.json"
    write_atomic(str(path), b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["position.json"]
