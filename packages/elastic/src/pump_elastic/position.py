"""SavedPosition: a small JSON value in a file, replaced atomically (temp file, fsync, rename)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import orjson


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
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".position-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(value))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
