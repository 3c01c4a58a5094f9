"""Bad build() input fails at once with a message naming the component."""

from __future__ import annotations

import pytest

import pump


def make(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [])
    return app, pipeline, source


def test_sink_in_the_middle(kit):
    app, pipeline, source = make(kit)
    sink = kit.CollectSink(app, pipeline, id="early")
    with pytest.raises(pump.BuildError, match="sink 'early' must be the last"):
        pipeline.build(source, sink, kit.Identity(app, pipeline), kit.CollectSink(app, pipeline))


def test_processor_after_the_sink(kit):
    app, pipeline, source = make(kit)
    pipeline.build(source, kit.CollectSink(app, pipeline, id="out"))
    with pytest.raises(pump.BuildError, match="processor 'late' comes after the sink 'out'"):
        pipeline.append_processor(kit.Identity(app, pipeline, "late"))


def test_missing_sink(kit):
    app, pipeline, source = make(kit)
    with pytest.raises(pump.BuildError, match="last component must be a Sink"):
        pipeline.build(source, kit.Identity(app, pipeline))


def test_source_in_processor_position(kit):
    app, pipeline, source = make(kit)
    other = kit.RecordingSource(app, pipeline, [], id="src2")
    with pytest.raises(pump.BuildError, match="sources go first"):
        pipeline.build(source, other, kit.CollectSink(app, pipeline))


def test_processor_as_source(kit):
    app, pipeline, _ = make(kit)
    with pytest.raises(pump.BuildError, match="is not a Source"):
        pipeline.build(kit.Identity(app, pipeline), kit.CollectSink(app, pipeline))


def test_unknown_connection_id_names_the_known_ones(kit):
    app, pipeline, _ = make(kit)
    app.add_connection(pump.Connection(app, "kafka-main"))

    class NeedsConnection(pump.Sink):
        def __init__(self, app, pipeline, connection):
            super().__init__(app, pipeline)
            self.connection = pipeline.locate_connection(app, connection)

    with pytest.raises(pump.BuildError, match=r"unknown connection 'kafka' \(known: kafka-main\)"):
        NeedsConnection(app, pipeline, "kafka")


def test_duplicate_ids_are_refused(kit):
    app, pipeline, _ = make(kit)
    app.add_pipeline(pipeline)
    with pytest.raises(pump.BuildError, match="pipeline with id 'p' is already registered"):
        app.add_pipeline(pump.Pipeline(app, "p"))


def test_insert_remove_locate(kit):
    app, pipeline, source = make(kit)
    a, c = kit.Identity(app, pipeline, "a"), kit.Identity(app, pipeline, "c")
    pipeline.build(source, a, c, kit.CollectSink(app, pipeline, id="out"))
    pipeline.insert_after("a", kit.Identity(app, pipeline, "b"))
    pipeline.insert_before("a", kit.Identity(app, pipeline, "first"))
    assert [p.Id for p in pipeline.iter_processors()] == ["first", "a", "b", "c", "out"]
    assert pipeline.remove_processor("c") is c
    app.add_pipeline(pipeline)
    assert app.locate("p.b").Id == "b"
    assert app.locate("p.*" + source.Id) is source
    assert app.locate("p") is pipeline
    with pytest.raises(KeyError, match="no processor 'zzz'"):
        app.locate("p.zzz")
    with pytest.raises(pump.BuildError, match="sink 'x' must be the last"):
        pipeline.insert_before("a", kit.CollectSink(app, pipeline, id="x"))


def test_subpackages_are_reachable_from_a_plain_import():
    import subprocess
    import sys

    code = (
        "import pump; print(pump.common.JsonParser.__name__, pump.metrics.metric_families.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["JsonParser", "metric_families"]
