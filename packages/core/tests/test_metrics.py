"""Counters per pipeline and per component, the snapshot API, and Prometheus text."""

from __future__ import annotations

import re

import pump
from pump.metrics import render_prometheus


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
    pipeline.build(source, kit.Identity(app, pipeline, "first"), DropThirds(app, pipeline, "drop"), sink)
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


async def test_prometheus_text_format(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, 'we"ird')
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(5)])
    pipeline.build(source, kit.CollectSink(app, pipeline, id="out"))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0

    text = render_prometheus(app.metrics())
    assert text.endswith("\n")
    assert "# TYPE pump_pipeline_events_in_total counter" in text
    assert "# TYPE pump_pipeline_in_flight gauge" in text
    assert 'pump_pipeline_events_in_total{pipeline="we\\"ird"} 5.0' in text
    assert 'pump_component_events_out_total{pipeline="we\\"ird",component="out"} 5.0' in text
    sample = re.compile(r'^[a-z_]+\{[^}]*\} -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line


def test_rate_meter_measures_events_per_second():
    meter = pump.metrics.RateMeter(min_interval=0.0)
    meter._last_time -= 2.0
    assert 4.9 < meter.update(10) < 5.1
