"""Event time: epoch seconds from a datetime, an epoch number (s, ms, us, ns) or ISO text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

TimeUnit = Literal["auto", "s", "ms", "us", "ns"]

#: Seconds per unit of an epoch number.
SCALES: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

# `auto` reads an epoch number by its size: below 1e11 seconds (until the year 5138), below
# 1e14 milliseconds, below 1e17 microseconds, nanoseconds above
_AUTO_LIMITS = ((1e11, 1.0), (1e14, 1e-3), (1e17, 1e-6))


def auto_seconds(value: float) -> float:
    """An epoch number of unknown unit (s, ms, us or ns, told apart by size) in seconds."""
    size = -value if value < 0 else value
    for limit, scale in _AUTO_LIMITS:
        if size < limit:
            return value * scale if scale != 1.0 else value
    return value * 1e-9


def to_seconds(value: Any, unit: TimeUnit = "auto") -> float:
    """Seconds since the epoch (UTC) from any supported time value; ValueError if it is none.

    Numbers are epoch times in `unit`; text is ISO 8601 (a trailing `Z` is UTC); a datetime or
    ISO text without a UTC offset is read as UTC.
    """
    kind = type(value)
    if kind is int or kind is float:
        if unit == "auto":
            return auto_seconds(value)
        scale = SCALES[unit]
        return float(value * scale) if scale != 1.0 else float(value)
    if kind is str:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"time {value!r} is not an ISO 8601 date and time") from None
    elif isinstance(value, bool) or not isinstance(value, (datetime, int, float)):
        raise ValueError(
            f"time {value!r} ({type(value).__name__}) is not a datetime, an epoch number or "
            f"ISO 8601 text"
        )
    elif not isinstance(value, datetime):  # an int or float subclass
        return to_seconds(float(value), unit)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def format_time(seconds: float, time_format: str) -> Any:
    """Window bounds in the output: `epoch` seconds, `iso` text (UTC) or an aware `datetime`."""
    if time_format == "epoch":
        whole = int(seconds)
        return whole if whole == seconds else seconds
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment if time_format == "datetime" else moment.isoformat()
