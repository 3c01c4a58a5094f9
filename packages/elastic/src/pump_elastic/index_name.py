"""IndexName: an index name with time templates (`logs-{%Y.%m.%d}`), rendered from an event time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

_PART = re.compile(r"\{(%[^}]*)\}")


def event_time(value: Any) -> float | None:
    """Unix seconds of a time value: epoch seconds or milliseconds, datetime, or ISO 8601."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


class IndexName:
    """Renders `template` for a time (UTC); a name without `{%...}` parts is returned as is."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.static = not _PART.search(template)
        # `{%Y.%m.%d}` → `%Y.%m.%d`; literal `%` outside the braces must survive strftime
        self._format = "".join(
            part if i % 2 else part.replace("%", "%%")
            for i, part in enumerate(_PART.split(template))
        )
        self._cache: dict[int, str] = {}

    def render(self, seconds: float | None = None) -> str:
        """The index name for `seconds` (Unix time; None: now)."""
        if self.static:
            return self.template
        second = int(time.time() if seconds is None else seconds)
        name = self._cache.get(second)
        if name is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            name = self._cache[second] = datetime.fromtimestamp(second, UTC).strftime(self._format)
        return name
