"""Pump's counters as Prometheus metrics through prometheus_client, read at scrape time.

`PumpCollector(app)` is a prometheus_client collector: each scrape takes one
`app.metrics()` snapshot and turns it into metric families (`pump.metrics.metric_families`).
Nothing is counted for it on the event path: the pipelines keep their plain integer counters,
updated per batch, whether anyone scrapes or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pump.metrics import MetricFamily, metric_families

if TYPE_CHECKING:
    from pump.application import Application

__all__ = ["PumpCollector", "prometheus_family", "render_families"]


def prometheus_family(family: MetricFamily) -> Metric:
    """One of Pump's metric families as prometheus_client's."""
    labels = list(family.samples[0][0]) if family.samples else []
    made: CounterMetricFamily | GaugeMetricFamily
    if family.kind == "counter":
        made = CounterMetricFamily(family.name, family.help, labels=labels)
    else:
        made = GaugeMetricFamily(family.name, family.help, labels=labels)
    for sample_labels, value in family.samples:
        made.add_metric([sample_labels[k] for k in labels], value)
    return made


class PumpCollector(Collector):
    """Collects an application's pipeline, component and connection metrics when scraped."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """One snapshot of the application's counters, as metric families."""
        for family in metric_families(self.app.metrics()).values():
            yield prometheus_family(family)

    def describe(self) -> list[Metric]:
        """Nothing up front: the families depend on the pipelines (no collect at register)."""
        return []


class _Fixed(Collector):
    def __init__(self, families: Iterable[MetricFamily]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield prometheus_family(family)

    def describe(self) -> list[Metric]:
        return []


def render_families(families: Iterable[MetricFamily]) -> str:
    """Metric families in the Prometheus text format (what `pump.metrics.render_prometheus`
    delegates to)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry).decode()
