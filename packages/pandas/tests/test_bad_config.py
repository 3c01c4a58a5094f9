"""Wrong settings are refused when built, naming the component and the key."""

from __future__ import annotations

import pytest

import pump
from pump.errors import BuildError, ConfigError
from pump_pandas import DataFrameProcessor, ParquetSink, ToDataFrame


@pytest.mark.parametrize(
    ("cls", "config", "named"),
    [
        (ToDataFrame, {"dtypes": {"amount": "floaty"}}, ["dtypes", "amount", "floaty"]),
        (ToDataFrame, {"completion_size": 0}, ["completion_size"]),
        (ToDataFrame, {"dtype_backend": "arrow"}, ["dtype_backend"]),
        (ParquetSink, {"path": "out/{date:%Y}.parquet", "compression": "rar"}, ["compression"]),
        (ParquetSink, {"path": "out/{}.parquet"}, ["path"]),
    ],
)
def test_bad_settings_name_the_component_and_the_key(cls, config, named):
    app = pump.Application()
    p = pump.Pipeline(app, "p")
    with pytest.raises(ConfigError) as caught:
        cls(app, p, id="c", config=config)
    message = str(caught.value)
    assert "pipeline 'p'" in message and "'c'" in message
    assert all(word in message for word in named), message


def test_a_function_processor_needs_a_function():
    app = pump.Application()
    p = pump.Pipeline(app, "p")
    with pytest.raises(BuildError, match="pass a function or set config 'function'"):
        DataFrameProcessor(app, p, id="fn")
    with pytest.raises(BuildError, match=r"cannot import 'nowhere\.at\.all:f'"):
        DataFrameProcessor(app, p, id="fn", config={"function": "nowhere.at.all:f"})
