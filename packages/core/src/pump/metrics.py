"""Counters kept by pipelines and components, snapshots of them, and Prometheus text rendering.

Besides the counters every component has (events in and out, errors, ...), a component class
declares its own named counters and gauges as class attributes:

    class KafkaSource(pump.Source):
        commits = pump.Counter("Offset commits sent to the broker")

    self.commits += 1   # per batch or per state change, never per event

They appear in `Pipeline.metrics()` (a connection's in `Application.metrics()`), in the
Prometheus text and in `pump run`'s progress view.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, Self, TypeVar, overload


class Counters:
    """Plain integer counters of one component; updated per batch, never per event."""

    __slots__ = (
        "aggregated",
        "dropped",
        "errors",
        "events_in",
        "events_out",
        "extra",
        "time_ns",
        "timed",
        "warnings",
    )

    def __init__(self, declared: Iterable[str] = ()) -> None:
        #: The component's own declared counters and gauges (see `Counter`, `Gauge`).
        self.extra: dict[str, float] = dict.fromkeys(declared, 0)
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
            **self.extra,
        }


ValueT = TypeVar("ValueT", int, float)

#: Every declared metric name → its declaration (one kind and help text per name).
DECLARED: dict[str, Metric[Any]] = {}


class Metric(Generic[ValueT]):
    """A named number of a component, declared as a class attribute; read and set like one.

    The value lives in the component's `counters.extra`, so it reaches every snapshot.
    """

    kind: ClassVar[str] = "gauge"

    def __init__(self, help: str) -> None:
        self.help = help
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if name in Counters.__slots__ or name in _COMPONENT_METRICS:
            raise TypeError(f"{owner.__name__}.{name}: every component already counts '{name}'")
        self.name = name
        known = DECLARED.setdefault(name, self)
        if known.kind != self.kind:
            raise TypeError(
                f"{owner.__name__}.{name}: metric '{name}' is already declared as a "
                f"{known.kind}; a name has one kind everywhere (Prometheus needs that)"
            )

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> ValueT: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Self | ValueT:
        if obj is None:
            return self
        return obj.counters.extra.get(self.name, 0)  # type: ignore[attr-defined,no-any-return]

    def __set__(self, obj: object, value: ValueT) -> None:
        obj.counters.extra[self.name] = value  # type: ignore[attr-defined]


class Counter(Metric[int]):
    """A count that only grows (commits, acknowledged messages, reconnects)."""

    kind = "counter"


class Gauge(Metric[float]):
    """A value that goes up and down (1 while connected, items waiting)."""

    kind = "gauge"


def declared_metrics(cls: type) -> tuple[str, ...]:
    """The names of the counters and gauges `cls` and its bases declare."""
    found = _DECLARED_BY_CLASS.get(cls)
    if found is None:
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Metric):
                    names[name] = None
        found = _DECLARED_BY_CLASS[cls] = tuple(names)
    return found


_DECLARED_BY_CLASS: dict[type, tuple[str, ...]] = {}


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
    _render_pipelines(snapshot, lines)
    _render_declared(snapshot, lines)
    return "\n".join(lines) + "\n"


def _render_pipelines(snapshot: dict[str, Any], lines: list[str]) -> None:
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


def _render_declared(snapshot: dict[str, Any], lines: list[str]) -> None:
    """Components' and connections' declared counters and gauges, one family per name."""
    samples: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for pid, p in snapshot.get("pipelines", {}).items():
        for cid, c in p["components"].items():
            labels = f'pipeline="{_label(pid)}",component="{_label(cid)}"'
            for key, value in c.items():
                if key in DECLARED and key not in _COMPONENT_METRICS and value is not None:
                    samples.setdefault(("component", key), []).append((labels, value))
    for cid, c in snapshot.get("connections", {}).items():
        for key, value in c.items():
            if key in DECLARED and value is not None:
                labels = f'connection="{_label(cid)}"'
                samples.setdefault(("connection", key), []).append((labels, value))
    for (scope, key), values in samples.items():
        metric = DECLARED[key]
        name = f"pump_{scope}_{key}" + ("_total" if metric.kind == "counter" else "")
        lines.append(f"# HELP {name} {metric.help}")
        lines.append(f"# TYPE {name} {metric.kind}")
        lines.extend(f"{name}{{{labels}}} {float(value)!r}" for labels, value in values)
