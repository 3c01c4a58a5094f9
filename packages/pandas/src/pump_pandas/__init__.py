"""pump-pandas: DataFrame batches for Pump — vectorised processing, CSV/Parquet in and out.

Processors: ToDataFrame (events → a DataFrame), DataFrameProcessor (a function over a whole
frame), FromDataFrame (a frame → one event per row). Sources (files read a chunk at a time):
DataFrameCSVSource, DataFrameParquetSource, DataFrameJSONLinesSource, DataFrameExcelSource.
Sinks: ParquetSink, DataFrameCSVSink, DataFrameSQLSink. Dead letters of a frame carry its rows.
"""

from __future__ import annotations

from pump_pandas.csv_sink import DataFrameCSVSink
from pump_pandas.csv_source import DataFrameCSVSource
from pump_pandas.excel_source import DataFrameExcelSource
from pump_pandas.frames import FrameBuilder, frame_rows, register_dead_letters
from pump_pandas.from_frame import FromDataFrame
from pump_pandas.function import DataFrameProcessor
from pump_pandas.jsonl_source import DataFrameJSONLinesSource
from pump_pandas.parquet_sink import ParquetSink
from pump_pandas.parquet_source import DataFrameParquetSource
from pump_pandas.source import DataFrameSource
from pump_pandas.sql_sink import DataFrameSQLSink
from pump_pandas.to_frame import ToDataFrame

__version__ = "0.1.0"

register_dead_letters()

__all__ = [
    "DataFrameCSVSink",
    "DataFrameCSVSource",
    "DataFrameExcelSource",
    "DataFrameJSONLinesSource",
    "DataFrameParquetSource",
    "DataFrameProcessor",
    "DataFrameSQLSink",
    "DataFrameSource",
    "FrameBuilder",
    "FromDataFrame",
    "ParquetSink",
    "ToDataFrame",
    "frame_rows",
]
