"""The saved time position of an incremental InfluxDBSource: a small JSON file, replaced whole."""

from __future__ import annotations

import orjson

from pump.atomicfile import write_atomic

VERSION = 1


class TimePosition:
    """Reads and replaces the position (nanoseconds since the epoch) of one source."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> int | None:
        """The saved position; None when there is none yet.

        A file that cannot be read as a position is an error, never a silent start from the
        beginning (that would read every point again) or from now (that would skip some).
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"{self.path} is not a version-{VERSION} position file")
        after = data.get("after")
        if type(after) is not int:
            raise ValueError(f"{self.path} holds no time position")
        return after

    def save(self, after: int) -> None:
        """Replace the saved position atomically (temporary file, fsync, rename)."""
        write_atomic(
            self.path, orjson.dumps({"version": VERSION, "after": after}), sync_folder=True
        )
