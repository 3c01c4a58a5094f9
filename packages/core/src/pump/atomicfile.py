"""write_atomic: replace a small file so a crash leaves the old content or the new one."""

from __future__ import annotations

import contextlib
import os

__all__ = ["write_atomic"]


def write_atomic(path: str, data: bytes, *, fsync: bool = True, sync_folder: bool = False) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, and rename it over `path`.

    `sync_folder` also syncs the folder, so the rename itself survives a power loss.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    os.replace(temp, path)
    if sync_folder:
        with contextlib.suppress(OSError):  # not every file system syncs folders
            folder_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(folder_fd)
            finally:
                os.close(folder_fd)
