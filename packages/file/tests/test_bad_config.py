"""Wrong settings of the file components are refused when they are built, naming the key."""

from __future__ import annotations

import pytest

import pump
from pump.errors import ConfigError
from pump_file import (
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"path": ""}, "path"),
        ({"path": "x", "encoding": "no-such-codec"}, "encoding"),
        ({"path": "x", "encoding": "utf-16"}, "encoding"),
        ({"path": "x", "post_process": "move"}, "move_to"),
        ({"path": "x", "batch_size": 0}, "batch_size"),
        ({"path": "x", "locked_suffix": "-processed"}, "locked_suffix"),
        ({"path": "x", "compression": "zip"}, "compression"),
    ],
)
def test_bad_source_config_is_refused_naming_the_key(fx, config, key):
    with pytest.raises(ConfigError, match=key):
        fx.source_pipeline(FileLineSource, config)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"path": ""}, "path"),
        ({"path": "out/{unclosed"}, "path"),
        ({"path": "x", "fsync": "sometimes"}, "fsync"),
        ({"path": "x", "max_bytes": -1}, "max_bytes"),
        ({"path": "x", "temp_suffix": ""}, "temp_suffix"),
    ],
)
def test_bad_sink_config_is_refused_naming_the_key(config, key):
    app = pump.Application()
    with pytest.raises(ConfigError, match=key):
        FileJSONLinesSink(app, pump.Pipeline(app, "p"), "s", config=config)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"delimiter": ";;"}, "delimiter"),
        ({"quoting": "sometimes"}, "quoting"),
        ({"dialect": "nope"}, "dialect"),
        ({"encoding": ""}, "encoding"),
        ({"quotechar": "", "quoting": "minimal"}, "quotechar"),
    ],
)
def test_bad_dialects_are_refused_naming_the_key(fx, config, key):
    with pytest.raises(ConfigError, match=key):
        fx.source_pipeline(FileCSVSource, {"path": "x", **config})


def test_whole_file_sources_cannot_follow(fx):
    with pytest.raises(ConfigError, match="follow"):
        fx.source_pipeline(FileJSONSource, {"path": "x", "follow": True})


def test_exactly_one_pattern_is_required(fx):
    with pytest.raises(ConfigError, match="start_pattern"):
        fx.source_pipeline(FileMultiLineSource, {"path": "x"})
    with pytest.raises(ConfigError, match="start_pattern"):
        fx.source_pipeline(FileMultiLineSource, {"path": "x", "start_pattern": "(unclosed"})
