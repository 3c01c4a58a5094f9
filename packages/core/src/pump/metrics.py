"""Counters kept by pipelines and components, snapshots of them, and Prometheus text rendering."""

from __future__ import annotations

import time
from typing import Any


class Counters:
    """Plain integer counters of one component; updated per batch, never per event."""

    __slots__ = (
        "aggregated",
        "dropped",
        "errors",
        "events_in",
        "events_out",
        "time_ns",
        "timed",
        "warnings",
    )

    def __init__(self) -> None:
        self.events_in = 0
        self.events_out = 0
        self.dropped = 0
        self.aggregated = 0  # taken into aggregates (processors with consumes_events)
        self.errors = 0
        self.warnings = 0
        self.time_ns = 0  # processing time of the sampled events
        self.timed = 0  # how many events time_ns covers

    def snapshot(self) -> dict[str, Any]:
        """A dict copy of the counters, with mean processing time per event in microseconds."""
        return {
            "events_in": self.events_in,
            "events_out": self.events_out,
            "dropped": self.dropped,
            "aggregated": self.aggregated,
            "errors": self.errors,
            "warnings": self.warnings,
            "time_per_event_us": (self.time_ns / self.timed / 1000) if self.timed else None,
        }


class RateMeter:
    """Events per second over the interval between two reads (at least `min_interval` apart)."""

    __slots__ = ("_last_count", "_last_time", "min_interval", "rate")

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._last_time = time.monotonic()
        self._last_count = 0
        self.rate = 0.0

    def update(self, count: int) -> float:
        """Feed the current total; returns the latest rate."""
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed >= self.min_interval:
            self.rate = (count - self._last_count) / elapsed
            self._last_time = now
            self._last_count = count
        return self.rate


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_PIPELINE_METRICS = {
    "events_in": ("counter", "Events accepted from sources"),
    "events_out": ("counter", "Events confirmed by the sink"),
    "dropped": ("counter", "Events dropped on purpose by processors"),
    "aggregated": ("counter", "Events taken into aggregates"),
    "errors": ("counter", "Events that failed"),
    "warnings": ("counter", "Warnings"),
    "dead_lettered": ("counter", "Events written to the dead-letter sink"),
    "in_flight": ("gauge", "Source events not yet done"),
    "eps": ("gauge", "Events per second accepted from sources"),
}
_COMPONENT_METRICS = {
    "events_in": ("counter", "Events that entered the component"),
    "events_out": ("counter", "Events the component passed on"),
    "dropped": ("counter", "Events the component dropped"),
    "aggregated": ("counter", "Events the component took into aggregates"),
    "errors": ("counter", "Events that failed in the component"),
    "warnings": ("counter", "Warnings of the component"),
    "time_per_event_us": ("gauge", "Mean processing time per event, microseconds (sampled)"),
}


def render_prometheus(snapshot: dict[str, Any]) -> str:
    """Render an `Application.metrics()` snapshot in the Prometheus text exposition format."""
    lines: list[str] = []
    pipelines: dict[str, Any] = snapshot.get("pipelines", {})
    for key, (kind, help_text) in _PIPELINE_METRICS.items():
        name = f"pump_pipeline_{key}" + ("_total" if kind == "counter" else "")
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for pid, p in pipelines.items():
            lines.append(f'{name}{{pipeline="{_label(pid)}"}} {float(p[key])!r}')
    for key, (kind, help_text) in _COMPONENT_METRICS.items():
        name = f"pump_component_{key}" + ("_total" if kind == "counter" else "")
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for pid, p in pipelines.items():
            for cid, c in p["components"].items():
                value = c.get(key)
                if value is None:
                    continue
                lines.append(
                    f'{name}{{pipeline="{_label(pid)}",component="{_label(cid)}"}} {float(value)!r}'
                )
    return "\n".join(lines) + "\n"
