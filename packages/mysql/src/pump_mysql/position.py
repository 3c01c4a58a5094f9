"""The saved position of an incremental MySQLSource: one small JSON file, replaced atomically."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
from typing import Any

from pump.atomicfile import write_atomic

L = logging.getLogger(__name__)

VERSION = 1


def encode_value(value: Any) -> Any:
    """A column value as JSON can hold it (datetimes as ISO text, decimals as text)."""
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    return value


def decode_value(value: Any) -> Any:
    """The inverse of `encode_value`."""
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return datetime.date.fromisoformat(value["date"])
        if "decimal" in value:
            return decimal.Decimal(value["decimal"])
    return value


class PositionFile:
    """Reads and replaces (temporary file, fsync, rename) the position of one source."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        """The saved position (column → value); None when there is none yet.

        A file that cannot be read as a position is an error, never a silent start from
        the beginning (that would write every row again) or from nowhere.
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"{self.path} is not a version-{VERSION} position file")
        position = data.get("position")
        if not isinstance(position, dict):
            raise ValueError(f"{self.path} holds no position")
        return {key: decode_value(value) for key, value in position.items()}

    def save(self, position: dict[str, Any]) -> None:
        """Replace the saved position atomically."""
        encoded = {key: encode_value(value) for key, value in position.items()}
        data = json.dumps({"version": VERSION, "position": encoded}).encode()
        write_atomic(self.path, data, sync_folder=True)
