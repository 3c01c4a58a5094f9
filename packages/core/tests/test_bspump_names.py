"""BSPump's names in Pump: the application as the pump service, JSON parsers, TeeSource with
TeeProcessor.bind, and `await pipeline.process(event)`."""

from __future__ import annotations

import pytest

import pump
import pump.common
from pump.declarative import build


def test_the_pump_service_is_the_application() -> None:
    app = pump.BSPumpApplication(args=[])
    assert isinstance(app, pump.Application) and pump.BSPumpService is pump.Application
    svc = app.get_service("bspump.PumpService")
    assert svc is app
    pipeline = svc.add_pipeline(pump.Pipeline(app, "p"))
    assert svc.locate("p") is pipeline and svc.Pipelines == {"p": pipeline}


def test_an_unknown_service_is_a_clear_error() -> None:
    app = pump.Application(args=[])
    with pytest.raises(pump.BuildError, match=r"unknown service 'asab.WebService'.*PumpService"):
        app.get_service("asab.WebService")


def test_std_json_parsers_keep_bspumps_types() -> None:
    app = pump.Application(args=[])
    p = pump.Pipeline(app, "p")
    to_json = pump.common.StdDictToJsonParser(app, p)
    assert to_json.process({}, {"a": [1, 2]}) == '{"a":[1,2]}'
    assert pump.common.DictToJsonParser is pump.common.StdDictToJsonParser
    for parser in (pump.common.StdJsonToDictParser, pump.common.JsonToDictParser):
        assert parser(app, p).process({}, b'{"a": 1}') == {"a": 1}
        assert parser(app, p).process({}, '{"a": 1}') == {"a": 1}


async def test_tee_processor_bound_to_a_tee_source_copies_events(kit) -> None:
    app = pump.BSPumpApplication(args=[])
    main = pump.Pipeline(app, "Main")
    source = kit.RecordingSource(app, main, [{"n": i} for i in range(5)], batch_size=5)
    main_sink = kit.CollectSink(app, main)
    main.build(
        source,
        pump.common.TeeProcessor(app, main).bind("Copies.*TeeSource"),
        main_sink,
    )
    copies = pump.Pipeline(app, "Copies")
    copy_sink = kit.CollectSink(app, copies)
    copies.build(pump.common.TeeSource(app, copies), copy_sink)
    app.add_pipelines(main, copies)

    assert await kit.run_app(app) == 0
    assert main_sink.events == copy_sink.events == [{"n": i} for i in range(5)]
    assert source.acknowledged == [(0, 5)]


async def test_a_tee_source_bound_to_a_tee_processor_receives_copies(kit) -> None:
    app = pump.BSPumpApplication(args=[])
    main = pump.Pipeline(app, "Main")
    source = kit.RecordingSource(app, main, [{"n": i} for i in range(3)], batch_size=3)
    main_sink = kit.CollectSink(app, main)
    main.build(source, pump.common.TeeProcessor(app, main), main_sink)
    copies = pump.Pipeline(app, "Copies")
    copy_sink = kit.CollectSink(app, copies)
    copies.build(pump.common.TeeSource(app, copies).bind("Main.TeeProcessor"), copy_sink)
    app.add_pipelines(main, copies)  # the processor's pipeline starts first

    assert await kit.run_app(app) == 0
    assert copy_sink.events == main_sink.events == [{"n": i} for i in range(3)]
    assert source.acknowledged == [(0, 3)]


async def test_a_tee_source_bound_to_something_else_fails_to_start(kit) -> None:
    app = pump.Application(args=[])
    main = pump.Pipeline(app, "Main")
    main.build(
        kit.RecordingSource(app, main, []),
        kit.Identity(app, main, "ident"),
        kit.CollectSink(app, main),
    )
    copies = pump.Pipeline(app, "Copies")
    tee = pump.common.TeeSource(app, copies).bind("Main.ident")
    copies.build(tee, kit.CollectSink(app, copies))
    app.add_pipelines(main, copies)
    with pytest.raises(pump.BuildError, match=r"bind\('Main.ident'\).*is not a TeeProcessor"):
        await tee.start()


def test_a_tee_processor_has_one_target() -> None:
    app = pump.Application(args=[])
    tee = pump.common.TeeProcessor(app, pump.Pipeline(app, "p")).bind("a")
    assert tee.bind("a") is tee
    with pytest.raises(pump.BuildError, match=r"already sends to 'a'.*add another TeeProcessor"):
        tee.bind("b")


async def test_a_tee_processor_without_target_fails_to_start() -> None:
    app = pump.Application(args=[])
    tee = pump.common.TeeProcessor(app, pump.Pipeline(app, "p"), "tee")
    with pytest.raises(pump.BuildError, match=r"component 'tee'.*no target; set 'target' or"):
        await tee.start()


def test_yaml_tee_still_requires_target() -> None:
    spec = {
        "pipelines": {
            "p": {
                "source": {"type": "iterator", "iterator": "builtins:list"},
                "processors": [{"type": "tee"}],
                "sink": {"type": "null"},
            }
        }
    }
    with pytest.raises(pump.ConfigError, match="key 'target': required"):
        build(spec)


async def test_awaiting_pipeline_process_waits_for_ready_and_runs_the_event(kit) -> None:
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    sink = kit.CollectSink(app, pipeline)

    class Source(pump.Source):
        async def main(self):
            for event in ("a", "b"):
                await self.Pipeline.process(event, {"n": event})

    pipeline.build(Source(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert sink.events == ["a", "b"]
