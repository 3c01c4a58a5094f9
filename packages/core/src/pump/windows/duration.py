"""Durations in config: seconds as a number, or text such as `500ms`, `10s`, `5m`, `1h`, `1d`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h|d)?\s*")


def parse_duration(value: Any) -> Any:
    """`90`, `1.5`, `"90s"`, `"1.5m"`, `"2h"` → seconds; other values are left to validation."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration (a number of seconds, or 500ms, 10s, 5m, 1h, 1d)"
            )
        return float(match[1]) * _UNITS[match[2] or "s"]
    return value


#: A config field holding seconds, also written as `500ms`, `10s`, `5m`, `1h`, `1d`.
Duration = Annotated[float, BeforeValidator(parse_duration)]
