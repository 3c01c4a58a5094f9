"""SavedPosition: a small JSON value in a file, replaced atomically (temp file, fsync, rename)."""

from __future__ import annotations

from typing import Any

import orjson

from pump.atomicfile import write_atomic


class SavedPosition:
    """The position of a follow-mode reader; `load()` gives None when none was saved yet."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Any:
        """The saved value, or None (no file yet)."""
        try:
            with open(self.path, "rb") as f:
                return orjson.loads(f.read())
        except FileNotFoundError:
            return None

    def save(self, value: Any) -> None:
        """Replace the saved value: a crash leaves the old value or the new one, never half."""
        write_atomic(self.path, orjson.dumps(value))
