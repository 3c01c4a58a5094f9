"""Where a window reads an event's time and key: source lines for its compiled batch loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pump.windows.eventtime import SCALES, TimeUnit, auto_seconds, to_seconds

#: Event times at or past this many seconds (the year ~31 million) are refused: an infinite or
#: absurd time would move the watermark past every window.
MAX_TIME = 1e15

KeySpec = str | Sequence[str] | Callable[[Any], Any] | None
TimeSpec = str | Callable[[Any], Any] | None


@dataclass
class Extract:
    """How to get `t` (seconds) and `k` from `ev` (and `ctx`), as lines of a compiled loop."""

    time_lines: list[str]
    key_lines: list[str]
    namespace: dict[str, Any] = field(default_factory=dict)
    uses_context: bool = False
    processing_time: bool = False
    #: Lines run once before the loop (the names the time lines keep between events).
    setup_lines: list[str] = field(default_factory=lambda: ["text_time = NO_TIME", "text_t = 0.0"])


def build_extract(
    time: TimeSpec,
    time_in: str = "event",
    time_unit: TimeUnit = "auto",
    key: KeySpec = None,
    key_in: str = "event",
) -> Extract:
    """Lines that set `t` from `time` (a field, a function of the event, or None: processing
    time, `now`) and `k` from `key` (a field, several fields as a tuple, a function of the
    event, or None: one global window)."""
    ns: dict[str, Any] = {"to_seconds": to_seconds, "auto_seconds": auto_seconds}
    ns["NO_TIME"] = object()  # equal to no event time (None included)
    uses_context = False
    processing = time is None
    if time is None:
        time_lines = ["t = now"]
    else:
        if callable(time):
            ns["time_of"] = time
            read = "t = time_of(ev)"
        else:
            ns["time_field"] = time
            holder = "ctx" if time_in == "context" else "ev"
            uses_context = uses_context or holder == "ctx"
            read = f"t = {holder}[time_field]"
        ns["time_unit"] = time_unit
        time_lines = [read]
        # numbers are the common case: checked by type, converted without a call
        if time_unit == "auto":
            time_lines += [
                "if type(t) is int or type(t) is float:",
                "    if t >= 1e11 or t <= -1e11: t = auto_seconds(t)",
            ]
        elif time_unit == "s":
            time_lines += ["if type(t) is int or type(t) is float: pass  # seconds already"]
        else:
            ns["time_scale"] = SCALES[time_unit]
            time_lines += ["if type(t) is int or type(t) is float: t = t * time_scale"]
        # text and datetimes: events in a row mostly share their time (many a second), so
        # the last conversion is kept; an equal value is the same instant
        time_lines += [
            "elif t == text_time: t = text_t",
            "else:",
            "    raw = t",
            "    t = text_t = to_seconds(raw, time_unit)",
            "    text_time = raw",
        ]
    if key is None:
        key_lines = ["k = None"]
    elif callable(key):
        ns["key_of"] = key
        key_lines = ["k = key_of(ev)"]
    else:
        holder = "ctx" if key_in == "context" else "ev"
        uses_context = uses_context or holder == "ctx"
        if isinstance(key, str):
            ns["key_field"] = key
            key_lines = [f"k = {holder}[key_field]"]
        else:
            names = list(key)
            for j, name in enumerate(names):
                ns[f"key_field{j}"] = name
            parts = ", ".join(f"{holder}[key_field{j}]" for j in range(len(names)))
            key_lines = [f"k = ({parts},)"]
    return Extract(time_lines, key_lines, ns, uses_context, processing)
