"""The package's entry points: each loads its class, is configured and described the one way."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_pandas import (
    DataFrameCSVSink,
    DataFrameCSVSource,
    DataFrameExcelSource,
    DataFrameJSONLinesSource,
    DataFrameParquetSource,
    DataFrameProcessor,
    DataFrameSQLSink,
    FromDataFrame,
    ParquetSink,
    ToDataFrame,
)


class TestPlugins(PluginContract):
    distribution = "pump-pandas"
    declared = {
        ("processor", "pandas.to_frame"): ToDataFrame,
        ("processor", "pandas.function"): DataFrameProcessor,
        ("processor", "pandas.from_frame"): FromDataFrame,
        ("source", "pandas.csv"): DataFrameCSVSource,
        ("source", "pandas.parquet"): DataFrameParquetSource,
        ("source", "pandas.jsonl"): DataFrameJSONLinesSource,
        ("source", "pandas.excel"): DataFrameExcelSource,
        ("sink", "pandas.parquet"): ParquetSink,
        ("sink", "pandas.csv"): DataFrameCSVSink,
        ("sink", "pandas.sql"): DataFrameSQLSink,
    }
