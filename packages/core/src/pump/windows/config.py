"""The settings of the window processors (`window.tumbling`, `window.hopping`, `window.session`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from pump.config import ComponentConfig
from pump.windows.duration import Duration
from pump.windows.eventtime import TimeUnit

LatePolicy = Literal["drop", "dead_letter", "route"]
EmitMode = Literal["final", "update", "timer"]
TimeFormat = Literal["iso", "epoch", "datetime"]


class WindowConfig(ComponentConfig):
    """Settings every window kind has."""

    key: str | list[str] | Callable[[Any], Any] | None = Field(
        None,
        description="Field of the key (a list: several fields, the key is their tuple; in "
        "Python also a function of the event); none: one global window",
    )
    key_function: str = Field(
        "", description="Instead of key: 'module:function' of the event that returns its key"
    )
    key_in: Literal["event", "context"] = Field(
        "event", description="Where the key fields are: the event or its context"
    )
    time: str | Callable[[Any], Any] | None = Field(
        None,
        description="Field of the event time (datetime, epoch number or ISO 8601 text; in "
        "Python also a function of the event); none: processing time",
    )
    time_in: Literal["event", "context"] = Field(
        "event", description="Where the time field is: the event or its context"
    )
    time_unit: TimeUnit = Field(
        "auto",
        description="Unit of epoch-number times: s, ms, us, ns, or auto (told apart by size)",
    )
    reduce: Any = Field(
        default_factory=lambda: {"count": True},
        description="Output field → reducer: count, sum, min, max, mean, first, last, "
        "collect, distinct, top, histogram, {NAME: FIELD}, {function: 'mod:f'} or "
        "{class: 'mod:C'}",
    )
    out_of_orderness: Duration = Field(
        0.0, ge=0, description="How far event time may go back (seconds, or 500ms, 10s, 5m)"
    )
    allowed_lateness: Duration = Field(
        0.0, ge=0, description="How long a window stays open after the watermark passed its end"
    )
    idle_timeout: Duration = Field(
        60.0,
        ge=0,
        description="A partition silent this long stops holding the watermark back, unless "
        "its source has events of it waiting (0: never)",
    )
    late: LatePolicy = Field(
        "drop",
        description="Events of closed windows: drop (counted), dead_letter (to the pipeline's "
        "dead-letter sink) or route (to late_target)",
    )
    late_target: str = Field("", description="Pipeline that late events go to (late: route)")
    emit: EmitMode = Field(
        "final",
        description="final: a result when a window closes; update: also early results after "
        "each batch that changed it; timer: also early results every emit_interval",
    )
    emit_interval: Duration = Field(
        0.0, ge=0, description="Seconds between early results (emit: timer)"
    )
    time_format: TimeFormat = Field(
        "iso", description="Window start and end in the output: iso (UTC), epoch or datetime"
    )
    flush_at_end: bool = Field(
        True,
        description="Emit every open window when the input ends (every source finished, "
        "not stopped)",
    )


class TumblingWindowConfig(WindowConfig):
    """Settings of a tumbling window."""

    size: Duration = Field(..., gt=0, description="Window length (seconds, or 10s, 5m, 1h)")


class HoppingWindowConfig(WindowConfig):
    """Settings of a hopping (sliding) window."""

    size: Duration = Field(..., gt=0, description="Window length (seconds, or 10s, 5m, 1h)")
    hop: Duration = Field(
        ..., gt=0, description="How far each window starts after the previous one"
    )


class SessionWindowConfig(WindowConfig):
    """Settings of a session window."""

    gap: Duration = Field(
        ..., gt=0, description="A session ends after this long without events of its key"
    )
