"""Counters per pipeline and per component, the snapshot API, and Prometheus text."""

from __future__ import annotations

import sys

import pytest

import pump
from pump.metrics import DECLARED, metric_families, render_prometheus


class DropThirds(pump.Processor):
    def process(self, context, event):
        if event["seq"] % 3 == 0:
            return None
        if event["seq"] == 7:
            raise ValueError("seven")
        return event


async def test_snapshot_counts_every_component(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "skip", "profile_every": 1})
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(30)], batch_size=10)
    sink = kit.CollectSink(app, pipeline, id="out")
    pipeline.build(
        source, kit.Identity(app, pipeline, "first"), DropThirds(app, pipeline, "drop"), sink
    )
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0

    m = app.metrics()["pipelines"]["p"]
    assert (m["events_in"], m["events_out"], m["dropped"], m["errors"]) == (30, 19, 10, 1)
    assert m["in_flight"] == 0
    c = m["components"]
    assert c[source.Id]["events_out"] == 30
    assert (c["first"]["events_in"], c["first"]["events_out"]) == (30, 30)
    assert (c["drop"]["events_in"], c["drop"]["events_out"]) == (30, 19)
    assert (c["drop"]["dropped"], c["drop"]["errors"]) == (10, 1)
    assert (c["out"]["events_in"], c["out"]["events_out"]) == (19, 19)
    assert c["first"]["time_per_event_us"] is not None and c["first"]["time_per_event_us"] >= 0


async def test_metric_families_of_pipelines_and_components(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, 'we"ird')
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(5)])
    pipeline.build(source, kit.CollectSink(app, pipeline, id="out"))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0

    families = metric_families(app.metrics())
    events_in = families["pump_pipeline_events_in"]
    assert (events_in.kind, events_in.samples) == ("counter", [({"pipeline": 'we"ird'}, 5.0)])
    assert families["pump_pipeline_in_flight"].kind == "gauge"
    out = families["pump_component_events_out"]
    assert out.value(pipeline='we"ird', component="out") == 5.0
    assert out.value(pipeline='we"ird', component="nope") is None


def test_prometheus_text_needs_pump_http(monkeypatch):
    monkeypatch.setitem(sys.modules, "pump_http.metrics", None)
    with pytest.raises(ImportError, match=r"needs pump-http.*pip install pump-http"):
        render_prometheus({"pipelines": {}, "connections": {}})


def test_rate_meter_measures_events_per_second():
    meter = pump.metrics.RateMeter(min_interval=0.0)
    meter._last_time -= 2.0
    assert 4.9 < meter.update(10) < 5.1


class Committing(pump.Sink):
    """A sink with its own counter and gauge."""

    commits = pump.Counter("Commits sent")
    backlog = pump.Gauge("Writes waiting")

    def write(self, events, contexts):
        self.commits += 1
        self.backlog = len(events)


class Linked(pump.Connection):
    """A connection that counts its reconnects."""

    reconnects = pump.Counter("Connections re-established after a loss")
    connected = pump.Gauge("1 while the connection is up")


async def test_declared_counters_reach_pipeline_metrics_and_prometheus(kit):
    app = pump.Application()
    link = app.add_connection(Linked(app, "link"))
    link.connected = 1
    link.reconnects += 2
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(6)], batch_size=2)
    sink = Committing(app, pipeline, id="out")
    assert (sink.commits, sink.backlog) == (0, 0)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0

    assert sink.commits == 3 and sink.counters.extra == {"commits": 3, "backlog": 2}
    out = pipeline.metrics()["components"]["out"]
    assert (out["commits"], out["backlog"], out["events_out"]) == (3, 2, 6)
    assert app.metrics()["connections"] == {"link": {"reconnects": 2, "connected": 1}}
    families = metric_families(app.metrics())
    # One help text per name: the first class that declared it gives the text.
    commits = families["pump_component_commits"]
    assert (commits.kind, commits.help) == ("counter", DECLARED["commits"].help)
    assert commits.value(pipeline="p", component="out") == 3.0
    assert families["pump_component_backlog"].kind == "gauge"
    assert families["pump_component_backlog"].value(pipeline="p", component="out") == 2.0
    assert families["pump_connection_reconnects"].value(connection="link") == 2.0
    assert families["pump_connection_connected"].value(connection="link") == 1.0


def test_a_name_has_one_kind_and_standard_counters_cannot_be_redeclared():
    # Python 3.11 wraps an error of __set_name__ in a RuntimeError; 3.12 raises it as is.
    with pytest.raises((TypeError, RuntimeError)) as caught:

        class Confused(pump.Sink):
            commits = pump.Gauge("Not a count")

    assert "already declared as a counter" in str(caught.value.__cause__ or caught.value)
    with pytest.raises((TypeError, RuntimeError)) as caught:

        class Shadowing(pump.Sink):
            errors = pump.Counter("Errors again")

    assert "every component already counts 'errors'" in str(caught.value.__cause__ or caught.value)
