"""Output files written under a temporary name and published under their final one when done.

A part is created with O_EXCL under `{prefix}{name}{suffix}` (default `.name.inprogress`) and
holds an exclusive flock while it is written; publishing links it to its final name (never
overwriting an existing file), then removes the temporary name, then drops the lock. A
temporary file whose lock can be taken was left by a sink that died: `recover` repairs its
tail and publishes it, since everything in it up to the last complete record was (or may have
been) acknowledged.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator

from pump_file.claims import rename_no_replace
from pump_file.template import PathTemplate

L = logging.getLogger(__name__)


class Part:
    """One output file being written."""

    __slots__ = (
        "events",
        "fd",
        "header_size",
        "key",
        "n",
        "opened",
        "path",
        "size",
        "temp",
        "written",
    )

    def __init__(self, key: str, n: int, path: str, temp: str, fd: int, now: float) -> None:
        self.key = key
        self.n = n
        self.path = path  # the final name it is published under (if still free then)
        self.temp = temp
        self.fd: int | None = fd
        self.size = 0  # bytes written and not rolled back
        self.header_size = 0
        self.events = 0
        self.opened = now
        self.written = now

    def __repr__(self) -> str:
        return f"<Part {self.temp} size={self.size} events={self.events}>"


def temp_name(path: str, prefix: str, suffix: str) -> str:
    """The temporary name of a part whose final name is `path`."""
    head, tail = os.path.split(path)
    return os.path.join(head, f"{prefix}{tail}{suffix}")


def final_name(temp: str, prefix: str, suffix: str) -> str | None:
    """The final name of a temporary file, or None if `temp` is not a temporary name."""
    head, tail = os.path.split(temp)
    if len(tail) <= len(prefix) + len(suffix) or not (
        tail.startswith(prefix) and tail.endswith(suffix)
    ):
        return None
    return os.path.join(head, tail[len(prefix) : len(tail) - len(suffix)])


#: O_DSYNC where the platform has it (0: none, fsync instead).
DSYNC: int = getattr(os, "O_DSYNC", 0)


def fsync_dir(path: str) -> None:
    """Make a directory entry change (create, rename) durable."""
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create(
    template: PathTemplate,
    key: str,
    n: int,
    prefix: str,
    suffix: str,
    make_dirs: bool,
    now: float,
    synced: bool = False,
) -> Part:
    """A new part of `key`, numbered `n` or the next number whose names are all free;
    `synced`: opened with O_DSYNC (each write durable when it returns)."""
    while True:
        path = template.path(key, n)
        temp = temp_name(path, prefix, suffix)
        if os.path.lexists(path):
            n += 1
            continue
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            fd = os.open(temp, flags | DSYNC if synced else flags, 0o644)
        except FileExistsError:
            n += 1
            continue
        except FileNotFoundError:
            if not make_dirs:
                raise
            os.makedirs(os.path.dirname(temp) or ".", exist_ok=True)
            continue
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return Part(key, n, path, temp, fd, now)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (os.write may write fewer); raises OSError (disk full, ...) as it comes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def discard(part: Part) -> None:
    """Close a part that failed and remove its temporary file (nothing in it was published)."""
    fd, part.fd = part.fd, None
    if fd is not None:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(part.temp)


def roll_back(part: Part, size: int) -> bool:
    """Cut a part back to `size` bytes (drop a torn or failed write); False if that failed too."""
    if part.fd is None:
        return False
    try:
        os.ftruncate(part.fd, size)
        # and write from there on: the file offset stays where the failed write left it, and
        # a later write there would leave a hole of NUL bytes before it
        os.lseek(part.fd, size, os.SEEK_SET)
    except OSError as exc:
        L.error("%s: cannot cut back to %d bytes after a failed write: %s", part.temp, size, exc)
        return False
    part.size = size
    return True


def publish(part: Part, template: PathTemplate, fsync: bool) -> str | None:
    """Give the part its final name (a free one); None when it was empty and removed instead."""
    fd = part.fd
    if fd is None:
        raise ValueError(f"{part.temp} is closed")
    try:
        if part.events == 0:
            os.unlink(part.temp)
            return None
        if fsync:
            os.fsync(fd)
        n = part.n
        path = part.path
        while not rename_no_replace(part.temp, path):
            n += 1
            path = template.path(part.key, n)
        part.path = path
        if fsync:
            fsync_dir(path)
        return path
    finally:
        part.fd = None
        os.close(fd)  # the lock goes last: no one takes the file for an orphan before this


def free_name(path: str) -> Iterator[str]:
    """`path`, then `path` with -recovered, -recovered-2, ... before its extension."""
    yield path
    head, tail = os.path.split(path)
    stem, dot, ext = tail.partition(".")
    yield os.path.join(head, f"{stem}-recovered{dot}{ext}")
    k = 2
    while True:
        yield os.path.join(head, f"{stem}-recovered-{k}{dot}{ext}")
        k += 1


def orphans(template: PathTemplate, prefix: str, suffix: str) -> Iterator[tuple[str, str]]:
    """(temporary, final) names of temp files it could have made under the template's folder."""
    root = template.static_prefix()
    if not os.path.isdir(root):
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            temp = os.path.join(dirpath, name)
            final = final_name(temp, prefix, suffix)
            if final is None:
                continue
            rendered = final if root != "." else os.path.relpath(final)
            if template.matches(os.path.normpath(rendered)) or template.matches(rendered):
                yield temp, final


def recover(temp: str, final: str, repair: Callable[[int, int], int], fsync: bool) -> str | None:
    """Repair and publish one orphaned part; None if it was empty (removed) or is not an orphan.

    `repair(fd, size)` returns how many leading bytes are complete records (0: nothing worth
    keeping).
    """
    try:
        fd = os.open(temp, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live sink is writing it
        if not os.path.exists(temp) or not os.path.samestat(os.fstat(fd), os.stat(temp)):
            return None  # published while we waited
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.stat(final), os.fstat(fd)):
                os.unlink(temp)  # published already; the sink died before removing this name
                return final
        size = os.fstat(fd).st_size
        good = repair(fd, size)
        if good <= 0:
            os.unlink(temp)
            L.warning("%s: an unfinished output file without a complete record was removed", temp)
            return None
        if good < size:
            os.ftruncate(fd, good)
            L.warning(
                "%s: cut a torn last record (%d bytes) off an unfinished output file",
                temp,
                size - good,
            )
        if fsync:
            os.fsync(fd)
        for path in free_name(final):
            try:
                published = rename_no_replace(temp, path)
            except FileNotFoundError:
                return None  # someone else took it meanwhile
            if published:
                if fsync:
                    fsync_dir(path)
                L.warning(
                    "%s: an unfinished output file of a stopped sink was published as %s",
                    temp,
                    path,
                )
                return path
        return None  # pragma: no cover - free_name never ends
    finally:
        os.close(fd)


def last_newline_end(fd: int, size: int) -> int:
    """The offset just after the last `\\n` in the first `size` bytes (0 if there is none)."""
    position = size
    while position > 0:
        start = max(0, position - (1 << 16))
        data = os.pread(fd, position - start, start)
        index = data.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0
