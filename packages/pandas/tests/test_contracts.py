"""pump.testing's contract suites: the DataFrame sources and sinks honour the delivery rules."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pandas as pd

import pump
from pump_file.testing import InputFolderContract, OutputFolderContract
from pump_pandas import (
    DataFrameCSVSink,
    DataFrameCSVSource,
    DataFrameExcelSource,
    DataFrameJSONLinesSource,
    DataFrameParquetSource,
    ParquetSink,
)


class FrameSourceRules(InputFolderContract):
    """One file of `events` per `produce`, made by pandas (`write`); CSV by default."""

    expected_context_keys: ClassVar[tuple[str, ...]] = ("file_path", "file_row")
    source_cls: ClassVar[type[pump.Source]] = DataFrameCSVSource
    extension: ClassVar[str] = "csv"
    extra_config: ClassVar[dict[str, Any]] = {"emit": "rows", "batch_size": 5}
    bad_configs = ({"chunk_rows": 0}, {"emit": "columns"}, {"dtypes": {"id": "no-such-type"}})

    def files_for(self, events: list[Any]) -> list[tuple[str, bytes]]:
        buffer = io.BytesIO()
        self.write(buffer, events)
        return [("batch", buffer.getvalue())]

    def write(self, buffer: io.BytesIO, events: list[Any]) -> None:
        pd.DataFrame(events).to_csv(buffer, index=False)


#: The contract's run ids are random hex: '67e917644140' would be read as a number (inf).
CSV_TYPES = {"dtypes": {"run": "str", "text": "str"}}


class TestCSVSourceRows(FrameSourceRules):
    extra_config: ClassVar[dict[str, Any]] = {**FrameSourceRules.extra_config, **CSV_TYPES}


class TestCSVSourceFrames(FrameSourceRules):
    """Frames of one row each, so the contract can count them as events."""

    extra_config: ClassVar[dict[str, Any]] = {
        "chunk_rows": 1,
        "max_frames_in_flight": 3,
        **CSV_TYPES,
    }

    def decode(self, event: Any) -> Any:
        (row,) = event.to_dict("records")
        return row


class TestParquetSourceRows(FrameSourceRules):
    source_cls = DataFrameParquetSource
    extension = "parquet"

    def write(self, buffer: io.BytesIO, events: list[Any]) -> None:
        pd.DataFrame(events).to_parquet(buffer, row_group_size=7)


class TestJSONLinesSourceRows(FrameSourceRules):
    source_cls = DataFrameJSONLinesSource
    extension = "jsonl"

    def write(self, buffer: io.BytesIO, events: list[Any]) -> None:
        buffer.write(b"".join(orjson.dumps(e) + b"\n" for e in events))


class TestExcelSourceRows(FrameSourceRules):
    source_cls = DataFrameExcelSource
    extension = "xlsx"

    def write(self, buffer: io.BytesIO, events: list[Any]) -> None:
        pd.DataFrame(events).to_excel(buffer, index=False, engine="openpyxl")


class FrameSinkRules(OutputFolderContract):
    """read_back reads every finished file."""

    sink_cls: ClassVar[type[pump.Sink]] = ParquetSink
    name: ClassVar[str] = "part-{n}.parquet"
    bad_configs = ({"compression": "rar"}, {"path": ""}, {"max_rows": -1})

    def records(self, path: Path) -> list[Any]:
        return pd.read_parquet(path).to_dict("records")


class TestParquetSink(FrameSinkRules):
    pass


class TestParquetSinkPartitioned(FrameSinkRules):
    """Partitioned by a column: the rows come back with it (from the folder names)."""

    def make_sink(self, app, pipeline, config=None):
        return super().make_sink(app, pipeline, {"partition_by": ["run"], **(config or {})})

    def records(self, path: Path) -> list[Any]:
        run = path.parent.name.removeprefix("run=")
        return [{**r, "run": run} for r in super().records(path)]


class TestCSVSink(FrameSinkRules):
    sink_cls = DataFrameCSVSink
    name = "part-{n}.csv"
    bad_configs = ({"fsync": "maybe"}, {"path": ""})

    read_unfinished = True  # appended records are acknowledged once synced, before publishing

    def records(self, path: Path) -> list[Any]:
        data = path.read_bytes()
        if not data:
            return []
        # the run id is random hex: '037885270559' would be read as a number
        return pd.read_csv(io.BytesIO(data), dtype={"run": str, "text": str}).to_dict("records")

    def event_key(self, event):
        # a dead letter of a failed write holds the row as the file gives it back: text
        return (str(event["id"]), event["run"], event["text"])
