"""Config files: `${VAR}` interpolation, BSPump INI sections, YAML sections, layering, argv."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr

import pump
from pump.application import config_file_from_args
from pump.configfile import InterpolationError, interpolate, interpolate_tree, read_config_file

ENV = {"HOST": "db.local", "EMPTY": "", "PORT": "5432"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${HOST}", "db.local"),
        ("postgres://${HOST}:${PORT}/x", "postgres://db.local:5432/x"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),  # ':-' also replaces an empty value
        ("${EMPTY-fallback}", ""),  # '-' replaces only an unset one
        ("${MISSING-fallback}", "fallback"),
        ("${MISSING:-}", ""),
        ("${HOST:-unused}", "db.local"),
        ("$${HOST} stays", "${HOST} stays"),
        ("no references, $5 and $HOST", "no references, $5 and $HOST"),
    ],
)
def test_interpolation(text, expected):
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${MISSING}", "environment variable MISSING is not set"),
        ("x ${1BAD} y", "malformed reference '${1BAD}'"),
        ("${UNCLOSED", "malformed reference '${UNCLOSED'"),
    ],
)
def test_interpolation_errors(text, message):
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$").replace("{", r"\{")):
        interpolate(text, ENV)


def test_interpolate_tree_reports_every_failure_with_its_path():
    problems = []
    data = {"a": "${HOST}", "b": ["${NOPE}", 5, {"c": "${ALSO_NOPE}"}], "d": True}
    out = interpolate_tree(data, problems, environ=ENV)
    assert out == {"a": "db.local", "b": ["${NOPE}", 5, {"c": "${ALSO_NOPE}"}], "d": True}
    assert [p for p, _ in problems] == ["b[0]", "b[2].c"]


def test_ini_file_sections_keep_key_case_and_have_no_default_inheritance(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text(
        "[DEFAULT]\nleak = 1\n\n"
        "[pipeline:P:Comp]\nBatchSize = 10\nurl = http://${HOST}:${PORT:-80}/\n"
        "multi = first\n  second\n\n[connection:db]\npct = 50%\n"
    )
    sections = read_config_file(path, environ=ENV)
    assert sections["pipeline:P:Comp"] == {
        "BatchSize": "10",
        "url": "http://db.local:5432/",
        "multi": "first\nsecond",
    }
    assert sections["connection:db"] == {"pct": "50%"}  # no %-interpolation
    assert sections["DEFAULT"] == {"leak": "1"}  # an ordinary section, inherited by none


def test_every_unset_variable_of_a_file_is_reported_at_once_with_section_and_key(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text("[pipeline:P:A]\nx = ${NOT_SET_1}\n[connection:c]\ny = ${NOT_SET_2}\n")
    with pytest.raises(pump.ConfigError) as caught:
        read_config_file(path, environ={})
    assert caught.value.where == f"config file '{path}'"
    assert caught.value.problems == [
        "[pipeline:P:A] key 'x': environment variable NOT_SET_1 is not set "
        "(give a default: ${NOT_SET_1:-value})",
        "[connection:c] key 'y': environment variable NOT_SET_2 is not set "
        "(give a default: ${NOT_SET_2:-value})",
    ]


def test_yaml_config_file_has_the_same_sections(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("pipeline:P:Comp:\n  size: 5\n  host: ${HOST}\n")
    assert read_config_file(path, environ=ENV) == {
        "pipeline:P:Comp": {"size": 5, "host": "db.local"}
    }


def test_unreadable_and_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(pump.ConfigError, match="cannot read it"):
        read_config_file(tmp_path / "absent.conf")
    bad = tmp_path / "bad.conf"
    bad.write_text("key without section = 1\n")
    with pytest.raises(pump.ConfigError, match=r"bad\.conf"):
        read_config_file(bad)


class Tunable(pump.Processor):
    class ConfigModel(pump.Processor.ConfigModel):
        size: int = Field(1, description="A size")
        name: str = Field("default", description="A name")
        token: SecretStr = Field(SecretStr(""), description="A secret")


def test_layering_class_defaults_then_file_then_constructor(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text("[pipeline:P:T]\nsize = 7\nname = from-file\n[pipeline:P]\nmax_in_flight = 3\n")
    app = pump.Application(config_file=path, config={"pipeline:P:T": {"size": 2, "token": "t"}})
    pipeline = pump.Pipeline(app, "P")
    assert pipeline.Config.max_in_flight == 3
    from_file = Tunable(app, pipeline, id="T")
    assert (from_file.Config.size, from_file.Config.name) == (7, "from-file")  # file over config=
    assert from_file.Config.token.get_secret_value() == "t"  # config= keys the file lacks stay
    overridden = Tunable(app, pipeline, id="T", config={"size": 9})
    assert (overridden.Config.size, overridden.Config.name) == (9, "from-file")
    assert Tunable(app, pipeline, id="Other").Config.size == 1  # class default


def test_a_bad_value_from_a_file_names_the_file_and_section_but_not_a_secret(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text("[pipeline:P:T]\nsize = big\ntoken = 12345\nunknown = 1\n")
    app = pump.Application(config_file=path)
    pipeline = pump.Pipeline(app, "P")
    with pytest.raises(pump.ConfigError) as caught:
        Tunable(app, pipeline, id="T", config={"name": 5})
    problems = caught.value.problems
    assert f"(from {path} [pipeline:P:T])" in next(p for p in problems if "'size'" in p)
    assert f"(from {path} [pipeline:P:T])" in next(p for p in problems if "'unknown'" in p)
    name_problem = next(p for p in problems if "'name'" in p)
    assert "from" not in name_problem.split("(got")[1]  # came from the constructor, not the file
    assert len(problems) == 3
    assert "pipeline 'P' component 'T'" in str(caught.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-c", "my.conf"], "my.conf"),
        (["--config", "a.conf", "-v"], "a.conf"),
        (["--config=b.conf"], "b.conf"),
        (["-cc.conf"], "c.conf"),
        (["x", "-c", "1.conf", "-c", "2.conf"], "2.conf"),
        (["--", "-c", "no.conf"], None),
        (["-c"], None),
        ([], None),
    ],
)
def test_config_file_from_args(args, expected):
    assert config_file_from_args(args) == expected


def test_an_application_inside_pytest_never_reads_pytests_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["pytest", "-c", "/nonexistent/pytest.ini"])
    app = pump.Application()
    assert app.config_file is None
    assert config_file_from_args(None) is None


def test_an_application_given_args_reads_its_config_file(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text("[pipeline:P]\nmax_in_flight = 11\n")
    app = pump.Application(args=["-c", str(path)])
    assert app.config_file == str(path)
    assert pump.Pipeline(app, "P").Config.max_in_flight == 11


class NeedsSize(pump.Processor):
    class ConfigModel(pump.Processor.ConfigModel):
        size: int = Field(..., description="Required")
        token: SecretStr = Field(SecretStr(""), description="A secret")
        note: str = Field("", description="Not a secret")


def test_a_missing_key_error_shows_no_other_value():
    app = pump.Application(args=[])
    with pytest.raises(pump.ConfigError) as caught:
        NeedsSize(app, pump.Pipeline(app, "P"), config={"token": "tok-value", "note": "note-value"})
    assert caught.value.problems == ["key 'size': required key is missing"]
    assert "tok-value" not in str(caught.value) and "note-value" not in str(caught.value)
