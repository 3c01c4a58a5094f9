"""Typed component config: defaults, BSPump's ConfigDefaults, errors naming the key, secrets."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr

import pump


class Typed(pump.Processor):
    class ConfigModel(pump.Processor.ConfigModel):
        size: int = Field(10, gt=0, description="How many")
        name: str = Field("x", description="A name")
        password: SecretStr = Field(SecretStr(""), description="A secret")


class Legacy(pump.Processor):
    ConfigDefaults = {"rate": 1.5, "label": "a", "enabled": True}


def test_defaults_then_app_section_then_constructor():
    app = pump.Application(config={"pipeline:p:t": {"size": "20", "name": "from-file"}})
    pipeline = pump.Pipeline(app, "p")
    t = Typed(app, pipeline, "t", config={"name": "from-code"})
    assert t.Config["size"] == 20  # "20" from an INI-like file is coerced
    assert t.Config.name == "from-code"


def test_bspump_config_defaults_are_typed():
    p = Legacy(pump.Application(), None, config={"rate": "2.5"})
    assert p.Config["rate"] == 2.5 and p.Config["label"] == "a" and p.Config["enabled"] is True
    with pytest.raises(pump.ConfigError, match="key 'rate'"):
        Legacy(pump.Application(), None, config={"rate": "fast"})


def test_every_problem_is_listed_with_component_and_key():
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError) as info:
        Typed(app, pipeline, "t", config={"size": -1, "colour": "red"})
    message = str(info.value)
    assert "pipeline 'p' component 't' (Typed)" in message
    assert "key 'size'" in message and "greater than 0" in message
    assert "key 'colour': unknown key" in message and "known keys: size, name, password" in message
    assert len(info.value.problems) == 2


def test_secrets_never_appear():
    app = pump.Application()
    t = Typed(app, None, "t", config={"password": "hunter2"})
    assert t.Config.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(t.Config) and "hunter2" not in str(t.Config.masked())
    assert t.Config.masked()["password"] == "*****"

    class StrictSecret(pump.Processor):
        class ConfigModel(pump.Processor.ConfigModel):
            token: SecretStr = Field(..., min_length=10)

    with pytest.raises(pump.ConfigError) as info:
        StrictSecret(app, None, config={"token": "short-one"})
    assert "short-one" not in str(info.value) and "key 'token'" in str(info.value)


def test_pipeline_config_is_typed():
    with pytest.raises(pump.ConfigError, match=r"(?s)pipeline 'p'.*key 'on_error'"):
        pump.Pipeline(pump.Application(), "p", config={"on_error": "ignore"})
