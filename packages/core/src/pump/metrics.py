"""Counters kept by pipelines and components, snapshots of them, and their Prometheus families.

Besides the counters every component has (events in and out, errors, ...), a component class
declares its own named counters and gauges as class attributes:

    class KafkaSource(pump.Source):
        commits = pump.Counter("Offset commits sent to the broker")

    self.commits += 1   # per batch or per state change, never per event

They appear in `Pipeline.metrics()` (a connection's in `Application.metrics()`), in the
Prometheus metric families (`metric_families`; served by pump-http's admin API at `/metrics`)
and in `pump run`'s progress view.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
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


@dataclass
class MetricFamily:
    """One Prometheus metric: a name (without `_total`), a kind, help text and its samples."""

    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float | None:
        """The value of the sample with exactly these labels (None: no such sample)."""
        for sample_labels, value in self.samples:
            if sample_labels == labels:
                return value
        return None


def metric_families(snapshot: dict[str, Any]) -> dict[str, MetricFamily]:
    """An `Application.metrics()` snapshot as Prometheus metric families, by name.

    Pipelines: `pump_pipeline_<counter>{pipeline}`; components: `pump_component_<counter>
    {pipeline,component}` (their declared counters and gauges too); connections:
    `pump_connection_<name>{connection}`. Counters are exposed with `_total` appended.
    Plain data: `pump_http.metrics` turns them into prometheus_client's families.
    """
    families: dict[str, MetricFamily] = {}

    def family(name: str, kind: str, help_text: str) -> MetricFamily:
        found = families.get(name)
        if found is None:
            found = families[name] = MetricFamily(name, kind, help_text)
        return found

    pipelines: dict[str, Any] = snapshot.get("pipelines", {})
    for key, (kind, help_text) in _PIPELINE_METRICS.items():
        f = family(f"pump_pipeline_{key}", kind, help_text)
        f.samples.extend(({"pipeline": pid}, float(p[key])) for pid, p in pipelines.items())
    for key, (kind, help_text) in _COMPONENT_METRICS.items():
        f = family(f"pump_component_{key}", kind, help_text)
        for pid, p in pipelines.items():
            for cid, c in p["components"].items():
                if c.get(key) is not None:
                    f.samples.append(({"pipeline": pid, "component": cid}, float(c[key])))
    for pid, p in pipelines.items():
        for cid, c in p["components"].items():
            for key, value in c.items():
                if key in DECLARED and key not in _COMPONENT_METRICS and value is not None:
                    metric = DECLARED[key]
                    f = family(f"pump_component_{key}", metric.kind, metric.help)
                    f.samples.append(({"pipeline": pid, "component": cid}, float(value)))
    for cid, c in snapshot.get("connections", {}).items():
        for key, value in c.items():
            if key in DECLARED and value is not None:
                metric = DECLARED[key]
                f = family(f"pump_connection_{key}", metric.kind, metric.help)
                f.samples.append(({"connection": cid}, float(value)))
    return families


def render_prometheus(snapshot: dict[str, Any]) -> str:
    """An `Application.metrics()` snapshot in the Prometheus text format, by prometheus_client.

    Needs pump-http (which brings prometheus_client); `pump run --admin` serves the same text
    at `/metrics`.
    """
    try:
        from pump_http.metrics import render_families  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "rendering Prometheus text needs pump-http (it brings prometheus_client): "
            f"pip install pump-http ({exc})"
        ) from exc
    text: str = render_families(metric_families(snapshot).values())
    return text
