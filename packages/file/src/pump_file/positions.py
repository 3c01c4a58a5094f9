"""Saved read positions: one small JSON file per input file, replaced atomically.

A position file sits next to its input file (or in `position_dir`) and is named
`.{file name}.{tag}.pos`, where the tag names the pipeline and the source, so two pipelines
tailing one log keep separate positions. It records how far the input has been *done* (never
merely read), and which file that was (inode, device), so a new file under the same name starts
from the beginning. A position file that cannot be parsed is moved aside with a warning and the
input is read again from the start: a corrupt position can cause duplicates, never a gap.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass

import orjson

from pump.atomicfile import write_atomic

L = logging.getLogger(__name__)

SUFFIX = ".pos"
VERSION = 1


@dataclass
class Position:
    """How far one input file is done."""

    #: Done up to here: a byte offset of the (decompressed) content, or an item count.
    offset: int
    #: The number of the next line (or item) at `offset`, so line numbers stay right on resume.
    line: int
    ino: int
    dev: int
    #: The file's size and modification time when the position was saved.
    size: int = 0
    mtime_ns: int = 0
    #: True when the whole file is done (kept files are not read again unless they change).
    complete: bool = False

    def same_file(self, st: os.stat_result) -> bool:
        """True when `st` describes the file this position was saved for."""
        return self.ino == st.st_ino and self.dev == st.st_dev

    def unchanged(self, st: os.stat_result) -> bool:
        """True when `st` is this file, with the size and modification time it had."""
        return self.same_file(st) and self.size == st.st_size and self.mtime_ns == st.st_mtime_ns


class PositionStore:
    """Reads and writes the position files of one source (`tag` = `{pipeline}.{source}`)."""

    def __init__(self, tag: str, directory: str = "", fsync: bool = True) -> None:
        self.tag = _safe_tag(tag)
        self.directory = directory
        self.fsync = fsync

    def path_for(self, file_path: str) -> str:
        """Where the position of `file_path` is kept."""
        directory = self.directory or os.path.dirname(file_path)
        return os.path.join(directory, f".{os.path.basename(file_path)}.{self.tag}{SUFFIX}")

    def load(self, file_path: str) -> Position | None:
        """The saved position of `file_path`; None when there is none or it is unreadable."""
        path = self.path_for(file_path)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError("not a version-1 position record")
            fields = {k: data[k] for k in ("offset", "line", "ino", "dev")}
            if not all(type(v) is int and v >= 0 for v in fields.values()):
                raise ValueError(f"bad values {fields!r}")
            return Position(
                **fields,
                size=int(data.get("size", 0)),
                mtime_ns=int(data.get("mtime_ns", 0)),
                complete=bool(data.get("complete", False)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            aside = f"{path}.corrupt"
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            L.warning(
                "%s: the saved read position is corrupt (%s); it was moved to %s and the file "
                "will be read again from the start",
                file_path,
                exc,
                aside,
            )
            return None

    def save(self, file_path: str, position: Position) -> None:
        """Replace the saved position atomically (temporary file, fsync, rename)."""
        path = self.path_for(file_path)
        data = orjson.dumps({"version": VERSION, "file": file_path, **asdict(position)})
        write_atomic(path, data, fsync=self.fsync)

    def remove(self, file_path: str) -> None:
        """Forget the position of `file_path`, and the temporary copies of it that a process
        killed while saving it left (`write_atomic`'s `{path}.{pid}.tmp`)."""
        path = self.path_for(file_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        folder, name = os.path.split(path)
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder or "."):
                pid = entry.name.removeprefix(f"{name}.").removesuffix(".tmp")
                if entry.name == f"{name}.{pid}.tmp" and pid.isdigit():
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)


def is_position_file(name: str) -> bool:
    """True for the name of a position file (or of its temporary/aside copies)."""
    return name.startswith(".") and (
        name.endswith(SUFFIX) or name.endswith(".tmp") or name.endswith(".pos.corrupt")
    )


def _safe_tag(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)
