"""YAML pipelines: building an Application from a file, and every config problem at once."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap

import pytest

import pump
from pump.declarative import PythonProcessor, build, build_file
from pump.plugins import Registry

pytestmark = pytest.mark.usefixtures("fixture_dists")


@pytest.fixture
def registry():
    return Registry(environ={})


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module `pump_user_code` on sys.path with functions and a processor class."""
    (tmp_path / "pump_user_code.py").write_text(
        textwrap.dedent(
            """
            import pump

            def double(event):
                return {**event, "n": event["n"] * 2}

            def tag(context, event):
                return {**event, "tagged": True}

            class Negate(pump.Processor):
                ConfigDefaults = {"key": "n"}

                def process(self, context, event):
                    return {**event, self.Config["key"]: -event[self.Config["key"]]}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "pump_user_code"
    sys.modules.pop("pump_user_code", None)


def write(tmp_path, text, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


async def run(app):
    return await asyncio.wait_for(app.main(), 10)


async def test_a_file_with_connections_lookups_and_pipelines_builds_and_runs(
    tmp_path, registry, user_module
):
    out = tmp_path / "out.jsonl"
    path = write(
        tmp_path,
        f"""
        connections:
          main:
            {{type: test.conn, url: "mem://${{TEST_HOST:-localhost}}", password: "${{TEST_PW}}"}}
        lookups:
          names: {{type: dictionary, provider: {{a: Alice}}}}
        pipelines:
          p:
            source: {{type: test.connected, connection: main, count: 4}}
            processors:
              - {{type: python, function: "pump_user_code:double"}}
              - {{type: python, function: "pump_user_code:tag"}}
              - {{type: python, class: "pump_user_code:Negate", id: negate}}
              - {{type: test.add, amount: 1}}
            sink: {{type: test.jsonl, path: "{out}"}}
            max_in_flight: 50
        """,
    )
    app = build_file(path, registry=registry, environ={"TEST_PW": "pw"})
    assert list(app.Connections) == ["main"]
    assert app.Connections["main"].Config.password.get_secret_value() == "pw"
    assert app.Lookups["names"].Provider is not None
    pipeline = app.Pipelines["p"]
    assert pipeline.Config.max_in_flight == 50
    assert [c.Id for c in pipeline.Processors] == [
        "python",
        "python#2",
        "negate",
        "test.add",
        "test.jsonl",
    ]
    assert type(pipeline.Processors[2]).__name__ == "Negate"
    assert await run(app) == 0
    assert read_jsonl(out) == [
        {"n": -2 * i + 1, "url": "mem://localhost", "tagged": True} for i in range(4)
    ]


def test_every_config_problem_is_reported_at_once_with_file_line_pipeline_component_key(
    tmp_path, registry
):
    path = write(
        tmp_path,
        """
        connections:
          good: {type: test.conn, url: "mem://x"}
        pipelines:
          first:
            source: {type: test.numbers, count: 3, colour: blue}
            processors:
              - {type: test.add, amount: lots}
              - {type: test.fail, id: failer}
            sink: {type: test.jsonl, path: "${OUT_DIR_NOT_SET}/x.jsonl"}
          second:
            source: {type: test.connected, connection: missing}
            processors:
              - {type: no.such.type}
            sink: {type: null}
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry, environ={})
    problems = caught.value.problems
    assert caught.value.where == f"'{path}'"
    expected = [
        # unknown key
        (f"{path}:6: pipeline 'first' component 'test.numbers'", "key 'colour': unknown key"),
        # wrong type
        (
            f"{path}:8: pipeline 'first' component 'test.add'",
            "key 'amount': Input should be a valid integer",
        ),
        # missing required
        (f"{path}:9: pipeline 'first' component 'failer'", "key 'when': required key is missing"),
        # bad env interpolation
        (
            f"{path}:10: pipeline 'first' sink 'test.jsonl'",
            "key 'path': environment variable OUT_DIR_NOT_SET is not set",
        ),
        # unknown connection id
        (
            f"{path}:12: pipeline 'second' source 'test.connected'",
            "key 'connection': unknown connection 'missing' (declared connections: good)",
        ),
        # unknown component type
        (
            f"{path}:14: pipeline 'second' processor 'no.such.type'",
            "unknown processor type 'no.such.type'",
        ),
    ]
    assert len(problems) == len(expected), problems
    for (where, what), problem in zip(expected, problems, strict=True):
        assert problem.startswith(where), (where, problem)
        assert what in problem, (what, problem)
    # An unset variable is reported once, not again as a missing required key.
    assert not any("'path': required key is missing" in p for p in problems)
    assert str(path) in str(caught.value)


def test_pipeline_level_problems(tmp_path, registry):
    path = write(
        tmp_path,
        """
        pipelines:
          a:
            sources: []
            processors: {type: print}
            max_in_flight: 0
          b:
            source: {type: test.numbers}
            sink: {type: null}
            on_error: dead_letter
            frobnicate: 1
          c:
            source: {type: test.numbers}
            sink: {type: null}
            on_error: {policy: skip, dead_letters: {}}
        extra: 1
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry)
    text = "\n".join(caught.value.problems)
    assert f"{path}:16: unknown top-level key 'extra'" in text  # at its own line
    assert "pipeline 'a': key 'max_in_flight': Input should be greater than 0" in text
    assert "pipeline 'a': 'sources' must be a non-empty list" in text
    assert "pipeline 'a': 'processors' must be a list" in text
    assert "pipeline 'a': no sink" in text
    assert "pipeline 'b': on_error 'dead_letter' needs a sink" in text
    assert "pipeline 'b': key 'frobnicate': unknown key" in text
    assert "pipeline 'c': on_error: unknown key 'dead_letters'" in text


def test_yaml_syntax_errors_and_wrong_shapes(tmp_path, registry):
    with pytest.raises(
        pump.ConfigError,
        match=(
            r"pipeline.yaml:4:1: invalid YAML: "
            r"while parsing a flow sequence did not find expected"
        ),
    ):
        build_file(write(tmp_path, "pipelines:\n  p: {source: [\n  q: 1\n"), registry=registry)
    with pytest.raises(pump.ConfigError, match="must be a mapping with 'pipelines'"):
        build_file(write(tmp_path, "- 1\n"), registry=registry)
    with pytest.raises(pump.ConfigError, match="no pipelines"):
        build_file(write(tmp_path, "connections: {}\n"), registry=registry)
    with pytest.raises(pump.ConfigError, match="cannot read it"):
        build_file(tmp_path / "absent.yaml", registry=registry)


async def test_on_error_dead_letter_forms(tmp_path, registry):
    dead = tmp_path / "dead.jsonl"
    out = tmp_path / "out.jsonl"
    for on_error in (
        f'{{dead_letter: {{type: test.jsonl, path: "{dead}"}}}}',
        f'{{policy: dead_letter, dead_letter: {{type: test.jsonl, path: "{dead}"}}}}',
    ):
        dead.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        path = write(
            tmp_path,
            f"""
            pipelines:
              p:
                source: {{type: test.numbers, count: 5}}
                processors: [{{type: test.fail, when: 3}}]
                sink: {{type: test.jsonl, path: "{out}"}}
                on_error: {on_error}
            """,
        )
        app = build_file(path, registry=registry)
        pipeline = app.Pipelines["p"]
        assert pipeline.Config.on_error == "dead_letter"
        assert pipeline.dead_letter is not None and pipeline.dead_letter.Id == "dead_letter"
        assert await run(app) == 0
        assert [e["n"] for e in read_jsonl(out)] == [0, 1, 2, 4]
        [record] = read_jsonl(dead)
        assert record["event"] == {"n": 3} and "failed on purpose" in record["error"]


async def test_skip_policy_and_a_failing_pipeline(tmp_path, registry):
    out = tmp_path / "out.jsonl"
    spec = {
        "pipelines": {
            "p": {
                "source": {"type": "test.numbers", "count": 5},
                "processors": [{"type": "test.fail", "when": 1}],
                "sink": {"type": "test.jsonl", "path": str(out)},
                "on_error": "skip",
            }
        }
    }
    app = build(spec, registry=registry)
    assert await run(app) == 0
    assert [e["n"] for e in read_jsonl(out)] == [0, 2, 3, 4]
    del spec["pipelines"]["p"]["on_error"]
    assert await run(build(spec, registry=registry)) == 1


async def test_several_sources_and_default_ids(tmp_path, registry):
    out = tmp_path / "out.jsonl"
    app = build(
        {
            "pipelines": {
                "p": {
                    "sources": [
                        {"type": "test.numbers", "count": 2},
                        {"type": "test.numbers", "count": 2, "start": 10},
                    ],
                    "processors": [
                        {"type": "test.add", "amount": 1},
                        {"type": "test.add", "amount": 1},
                    ],
                    "sink": {"type": "test.jsonl", "path": str(out)},
                }
            }
        },
        registry=registry,
    )
    pipeline = app.Pipelines["p"]
    assert [s.Id for s in pipeline.Sources] == ["test.numbers", "test.numbers#2"]
    assert [p.Id for p in pipeline.Processors] == ["test.add", "test.add#2", "test.jsonl"]
    assert await run(app) == 0
    assert sorted(e["n"] for e in read_jsonl(out)) == [2, 3, 12, 13]


def test_duplicate_ids_in_a_pipeline_are_a_problem(registry):
    with pytest.raises(pump.ConfigError, match="duplicate component id 'x'"):
        build(
            {
                "pipelines": {
                    "p": {
                        "source": {"type": "test.numbers"},
                        "processors": [{"type": "test.add", "amount": 1, "id": "x"}],
                        "sink": {"type": "null", "id": "x"},
                    }
                }
            },
            registry=registry,
        )


async def test_trigger_sources_take_triggers_from_the_file(tmp_path, registry):
    out = tmp_path / "out.jsonl"
    path = write(
        tmp_path,
        f"""
        pipelines:
          once:
            source: {{type: test.ticks, per_cycle: 4, trigger: run_once}}
            sink: {{type: test.jsonl, path: "{out}"}}
        """,
    )
    app = build_file(path, registry=registry)
    [trigger] = app.Pipelines["once"].Sources[0].Triggers
    assert isinstance(trigger, pump.RunOnceTrigger)
    assert await run(app) == 0
    assert [e["i"] for e in read_jsonl(out)] == [0, 1, 2, 3]

    path = write(
        tmp_path,
        """
        pipelines:
          p:
            source:
              type: test.ticks
              triggers:
                - {type: periodic, interval: "${TICK:-0.25}"}
                - {type: cron, expression: "*/5 * * * *", timezone: Europe/Prague}
            sink: {type: null}
        """,
    )
    app = build_file(path, registry=registry, environ={})
    periodic, cron = app.Pipelines["p"].Sources[0].Triggers
    assert periodic.Interval == 0.25  # the string from interpolation, converted to float
    assert cron.Expression == "*/5 * * * *" and str(cron.timezone) == "Europe/Prague"


def test_trigger_problems(tmp_path, registry):
    path = write(
        tmp_path,
        """
        pipelines:
          p:
            source:
              type: test.ticks
              triggers:
                - {type: periodic, interval: 0}
                - {type: periodic, every: 5}
                - {type: cron, expression: "not cron"}
                - {type: periodic, interval: soon}
                - {type: hourly}
            sink: {type: null}
          q:
            source: {type: test.numbers, trigger: run_once}
            sink: {type: null}
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry)
    text = "\n".join(caught.value.problems)
    assert "pipeline 'p' source 'test.ticks' trigger 'periodic': interval must be > 0" in text
    assert "trigger 'periodic': key 'every': unknown key (known keys: interval, id)" in text
    assert "trigger 'periodic': key 'interval': required key is missing" in text
    assert "trigger 'cron': invalid cron expression 'not cron'" in text
    assert "trigger 'periodic': key 'interval': Input should be a valid number" in text
    assert "trigger 'hourly': unknown trigger type 'hourly'" in text
    assert "pipeline 'q' source 'test.numbers': 'trigger' needs a trigger source" in text


def test_router_and_tee_targets_must_be_declared_pipelines(registry):
    with pytest.raises(pump.ConfigError, match="key 'target': unknown pipeline 'nowhere'"):
        build(
            {
                "pipelines": {
                    "p": {
                        "source": {"type": "test.numbers"},
                        "sink": {"type": "router", "target": "nowhere"},
                    },
                }
            },
            registry=registry,
        )


async def test_routing_between_declared_pipelines(tmp_path, registry):
    out = tmp_path / "out.jsonl"
    app = build(
        {
            "pipelines": {
                "up": {
                    "source": {"type": "test.numbers", "count": 3},
                    "sink": {"type": "router", "target": "down"},
                },
                "down": {
                    "source": {"type": "internal"},
                    "sink": {"type": "test.jsonl", "path": str(out)},
                },
            }
        },
        registry=registry,
    )
    assert await run(app) == 0
    assert [e["n"] for e in read_jsonl(out)] == [0, 1, 2]


def test_a_class_path_instead_of_a_type(user_module, registry):
    app = build(
        {
            "pipelines": {
                "p": {
                    "source": {"type": "test.numbers"},
                    "processors": [{"class": "pump_user_code:Negate", "key": "n"}],
                    "sink": {"class": "pump.common:NullSink"},
                }
            }
        },
        registry=registry,
    )
    assert [type(p).__name__ for p in app.Pipelines["p"].Processors] == ["Negate", "NullSink"]
    assert [p.Id for p in app.Pipelines["p"].Processors] == ["Negate", "NullSink"]
    with pytest.raises(pump.ConfigError, match="'pump_user_code:double' is not a Sink class"):
        build(
            {
                "pipelines": {
                    "p": {
                        "source": {"type": "test.numbers"},
                        "sink": {"class": "pump_user_code:double"},
                    }
                }
            },
            registry=registry,
        )


def test_python_processor_problems(user_module, registry):
    def problems(processor):
        spec = {
            "pipelines": {
                "p": {
                    "source": {"type": "test.numbers"},
                    "processors": [processor],
                    "sink": {"type": "null"},
                }
            }
        }
        with pytest.raises(pump.ConfigError) as caught:
            build(spec, registry=registry)
        return "\n".join(caught.value.problems)

    assert "needs 'function" in problems({"type": "python"})
    assert "give 'function' or 'class', not both" in problems(
        {"type": "python", "function": "pump_user_code:double", "class": "pump_user_code:Negate"}
    )
    assert "cannot import 'pump_user_code:nothing'" in problems(
        {"type": "python", "function": "pump_user_code:nothing"}
    )
    assert "'pump_user_code:double' is not a Processor class" in problems(
        {"type": "python", "class": "pump_user_code:double"}
    )
    assert "key 'bogus': unknown key" in problems(
        {"type": "python", "class": "pump_user_code:Negate", "bogus": 1}
    )


def test_python_processor_is_registered_and_builds_a_function_processor(user_module):
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    processor = PythonProcessor.from_config(
        app, pipeline, "f", {"function": "pump_user_code:double"}
    )
    assert processor.process({}, {"n": 2}) == {"n": 4}


def test_from_config_names_a_missing_required_constructor_argument():
    import pump

    class NeedsConnection(pump.Sink):
        def __init__(self, app, pipeline, connection, id=None, config=None):
            super().__init__(app, pipeline, id, config)
            self.connection = connection

    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(
        pump.ConfigError, match=r"NeedsConnection 'out'[\s\S]*key 'connection': required"
    ):
        NeedsConnection.from_config(app, pipeline, "out", {})
    assert NeedsConnection.from_config(app, pipeline, "out", {"connection": "k"}).connection == "k"


@pytest.fixture
def lookup_functions(tmp_path, monkeypatch):
    (tmp_path / "pump_lookup_code.py").write_text(
        textwrap.dedent(
            """
            def country(event, lookup):
                return {**event, "country": lookup.get(event["ip"], "??")}

            def both(context, event, countries, names):
                return {**event, "country": countries.get(event["ip"]), "name": names.get("x")}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("pump_lookup_code", None)


def test_a_function_processor_reaches_a_lookup_by_its_lookup_key(lookup_functions):
    from pump.testing import run_pipeline

    app = build(
        {
            "lookups": {
                "geo": {"type": "dictionary", "provider": {"10.0.0.1": "CZ"}},
                "people": {"type": "dictionary", "provider": {"x": "Ann"}},
            },
            "pipelines": {
                "p": {
                    "source": {"type": "iterator", "iterator": []},
                    "processors": [
                        {"type": "python", "function": "pump_lookup_code:country", "lookup": "geo"},
                        {
                            "type": "python",
                            "function": "pump_lookup_code:both",
                            "lookups": {"countries": "geo", "names": "people"},
                        },
                    ],
                    "sink": {"type": "null"},
                }
            },
        }
    )
    app.exit_when_finished = False
    result = run_pipeline(
        app.Pipelines["p"], [(None, {"ip": "10.0.0.1"}), (None, {"ip": "1.1.1.1"})]
    )
    assert result.events == [
        {"ip": "10.0.0.1", "country": "CZ", "name": "Ann"},
        {"ip": "1.1.1.1", "country": None, "name": "Ann"},
    ]


def test_an_unknown_lookup_of_a_function_processor_is_a_config_error(lookup_functions):
    with pytest.raises(pump.ConfigError) as caught:
        build(
            {
                "lookups": {"geo": {"type": "dictionary", "provider": {}}},
                "pipelines": {
                    "p": {
                        "source": {"type": "iterator", "iterator": []},
                        "processors": [
                            {
                                "type": "python",
                                "function": "pump_lookup_code:both",
                                "lookups": {"countries": "geo", "names": "nobody"},
                            },
                        ],
                        "sink": {"type": "null"},
                    }
                },
            }
        )
    assert "key 'lookups.names': unknown lookup 'nobody' (declared lookups: geo)" in str(
        caught.value
    )


# -- error locations (issue 9, defect 5) ---------------------------------------------------------


def test_pipeline_keys_are_reported_at_their_own_line_with_did_you_mean(tmp_path, registry):
    path = write(
        tmp_path,
        """
        pipelines:
          p:
            source: {type: test.numbers}
            processor:
              - {type: print}
            sink: {type: null}
            max_in_flight: 0
            on_eror: skip
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry)
    problems = caught.value.problems
    processor = next(p for p in problems if "'processor'" in p)
    assert processor.startswith(f"{path}:5: pipeline 'p': key 'processor': unknown key")
    assert "did you mean 'processors'?" in processor
    assert "processors" in processor.split("known keys:")[1]  # the structure keys are known too
    max_in_flight = next(p for p in problems if "'max_in_flight'" in p)
    assert max_in_flight.startswith(f"{path}:8: pipeline 'p': key 'max_in_flight'")
    on_eror = next(p for p in problems if "'on_eror'" in p)
    assert on_eror.startswith(f"{path}:9: pipeline 'p': key 'on_eror': unknown key")
    assert "did you mean 'on_error'?" in on_eror


def test_component_keys_are_reported_at_their_own_line_with_did_you_mean(tmp_path, registry):
    path = write(
        tmp_path,
        """
        pipelines:
          p:
            source:
              type: test.numbers
              cuont: 3
            sink: {type: null}
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:6: pipeline 'p' component 'test.numbers'")
    assert "key 'cuont': unknown key; did you mean 'count'?" in problem


def test_a_connection_whose_config_failed_is_pointed_at_not_called_unknown(tmp_path, registry):
    path = write(
        tmp_path,
        """
        connections:
          main: {type: test.conn, url: "mem://x", colour: red}
        pipelines:
          p:
            source: {type: test.connected, connection: main}
            sink: {type: null}
        """,
    )
    with pytest.raises(pump.ConfigError) as caught:
        build_file(path, registry=registry)
    problems = caught.value.problems
    assert any(p.startswith(f"{path}:3:") and "key 'colour': unknown key" in p for p in problems)
    source = next(p for p in problems if "pipeline 'p'" in p)
    assert "unknown connection" not in source and "known: none" not in source
    assert f"key 'connection': connection 'main' is invalid (see {path}:3)" in source


def test_a_missing_constructor_key_names_the_pipeline(registry):
    with pytest.raises(pump.ConfigError) as caught:
        build(
            {
                "connections": {"main": {"type": "test.conn", "url": "mem://x"}},
                "pipelines": {
                    "p": {"source": {"type": "test.connected"}, "sink": {"type": "null"}}
                },
            },
            registry=registry,
        )
    (problem,) = [p for p in caught.value.problems if "'connection'" in p]
    assert "pipeline 'p'" in problem and "key 'connection': required" in problem


def test_python_processor_errors_name_the_location_once(registry):
    with pytest.raises(pump.ConfigError) as caught:
        build(
            {
                "pipelines": {
                    "p": {
                        "source": {"type": "test.numbers"},
                        "processors": [{"type": "python", "function": "no_such_module_x:f"}],
                        "sink": {"type": "null"},
                    }
                }
            },
            registry=registry,
        )
    (problem,) = caught.value.problems
    assert problem.count("pipeline 'p'") == 1, problem
    assert "cannot import 'no_such_module_x:f'" in problem
