"""Claiming input files so two pumps never read the same one, and what happens to them after.

A claim takes an exclusive `flock` on the file and, with `lock` on, renames it with the locked
suffix (BSPump's `-locked`). The lock is what matters: it is released by the kernel when the
process dies, even on SIGKILL, so a `-locked` file whose lock can be taken is an orphan of a
dead pump and is resumed from its saved position; one whose lock is held belongs to a live pump
and is left alone. The lock is taken before the rename and the name is checked after, so of two
pumps racing for a file exactly one wins.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

L = logging.getLogger(__name__)

_KEYS = itertools.count(1)


@dataclass(eq=False)
class FileClaim:
    """A file a source reads: where it came from, where it is now, and its progress."""

    #: The file's original path (what contexts and position files name).
    path: str
    #: Where the file is now (the locked name while it is read with `lock` on).
    current: str
    ino: int
    dev: int
    #: The descriptor holding the flock (None once released).
    fd: int | None
    #: A unique partition key for the commit tracker.
    key: int = field(default_factory=lambda: next(_KEYS))
    # -- progress, touched only on the event loop --
    #: Position (and line) where reading started, and after the last batch handed over.
    emitted: int = 0
    emitted_line: int = 1
    #: Done up to here (what the position file records).
    acked: int = 0
    acked_line: int = 1
    #: Batch ends not yet done, in order: (end position, line at end).
    ends: list[tuple[int, int]] = field(default_factory=list)
    in_flight: int = 0
    reading_done: bool = False
    rejected: bool = False
    #: Why the file is set aside as failed (a read error, or a rejection with on_reject: fail).
    failure: str | None = None
    finished: bool = False
    dirty: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def start_at(self, offset: int, line: int) -> None:
        """Reading starts (or resumes) at this position."""
        self.emitted = self.acked = offset
        self.emitted_line = self.acked_line = line


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _open_locked(path: str) -> tuple[int, os.stat_result] | None:
    """Open `path` and take its lock; None if it is gone, locked by another, or was replaced."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError):
        return None
    try:
        if not _lock(fd):
            os.close(fd)
            return None
        st = os.fstat(fd)
        now = os.stat(path)
    except FileNotFoundError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
        os.close(fd)  # renamed or replaced between our open and our lock: someone else's now
        return None
    return fd, st


def claim(path: str, locked_suffix: str, rename: bool) -> FileClaim | None:
    """Claim a new file: lock it and (with `rename`) rename it with `locked_suffix`."""
    opened = _open_locked(path)
    if opened is None:
        return None
    fd, st = opened
    current = path
    if rename:
        current = path + locked_suffix
        try:
            os.rename(path, current)
        except BaseException:
            os.close(fd)
            raise
    return FileClaim(path, current, st.st_ino, st.st_dev, fd)


def claim_orphan(locked_path: str, locked_suffix: str) -> FileClaim | None:
    """Claim a file a dead pump left locked (its lock is free); None if a live pump holds it."""
    opened = _open_locked(locked_path)
    if opened is None:
        return None
    fd, st = opened
    return FileClaim(locked_path[: -len(locked_suffix)], locked_path, st.st_ino, st.st_dev, fd)


def release(claim: FileClaim) -> None:
    """Drop the lock (the file stays where it is)."""
    fd, claim.fd = claim.fd, None
    if fd is not None:
        os.close(fd)


def rename_no_replace(source: str, target: str) -> bool:
    """Rename unless `target` exists; False when it does (nothing is overwritten)."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError:
        # no hard links on this filesystem: check, then rename (a small race, only here)
        if os.path.lexists(target):
            return False
        os.rename(source, target)
        return True
    os.unlink(source)
    return True


def unlock_in_place(claim: FileClaim) -> None:
    """Give a file back under its original name (a graceful stop before it was done)."""
    if claim.current != claim.path:
        try:
            if rename_no_replace(claim.current, claim.path):
                claim.current = claim.path
        except OSError as exc:
            L.warning("%s: could not rename it back to %s: %s", claim.current, claim.path, exc)
    release(claim)


def set_aside(claim: FileClaim, suffix: str) -> str:
    """Rename a file to its original name + `suffix` (`-processed`, `-failed`); the new path."""
    target = claim.path + suffix
    os.replace(claim.current, target)
    claim.current = target
    return target


def move_to(claim: FileClaim, directory: str) -> str:
    """Move a file into `directory` under its original name (replacing one there); the new path."""
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, os.path.basename(claim.path))
    shutil.move(claim.current, target)
    claim.current = target
    return target


def delete(claim: FileClaim) -> None:
    """Delete a file."""
    os.unlink(claim.current)
