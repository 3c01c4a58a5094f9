"""pump.testing's contract suites: the DataFrame sources and sinks honour the delivery rules."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pandas as pd
import pytest

import pump
from pump.testing import SourceContract
from pump_file.testing import OutputFolderContract
from pump_pandas import (
    DataFrameCSVSink,
    DataFrameCSVSource,
    DataFrameExcelSource,
    DataFrameJSONLinesSource,
    DataFrameParquetSource,
    ParquetSink,
)


class FrameSourceRules(SourceContract):
    """A folder per test; each `produce` drops one new file (written whole, then renamed in)."""

    supports_redelivery = True
    expected_context_keys: ClassVar[tuple[str, ...]] = ("file_path", "file_row")
    source_cls: ClassVar[type[pump.Source]] = DataFrameCSVSource
    extension: ClassVar[str] = "csv"
    extra_config: ClassVar[dict[str, Any]] = {"emit": "rows", "batch_size": 5}
    bad_configs = ({"chunk_rows": 0}, {"emit": "columns"}, {"dtypes": {"id": "no-such-type"}})

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "in"
        self.folder.mkdir()
        self.produced = 0

    def make_source(self, app, pipeline, config=None):
        settings = {"path": str(self.folder / f"*.{self.extension}"), **self.extra_config}
        return self.source_cls(app, pipeline, "src", config={**settings, **(config or {})})

    def produce(self, events: list[Any]) -> None:
        self.produced += 1
        final = self.folder / f"{self.produced:05d}.{self.extension}"
        temp = self.folder / f".{final.name}.tmp"
        self.write(temp, events)
        os.rename(temp, final)

    def write(self, path: Path, events: list[Any]) -> None:
        pd.DataFrame(events).to_csv(path, index=False)


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

    def write(self, path: Path, events: list[Any]) -> None:
        pd.DataFrame(events).to_parquet(path, row_group_size=7)


class TestJSONLinesSourceRows(FrameSourceRules):
    source_cls = DataFrameJSONLinesSource
    extension = "jsonl"

    def write(self, path: Path, events: list[Any]) -> None:
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))


class TestExcelSourceRows(FrameSourceRules):
    source_cls = DataFrameExcelSource
    extension = "xlsx"

    def write(self, path: Path, events: list[Any]) -> None:
        pd.DataFrame(events).to_excel(path, index=False, engine="openpyxl")


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
        return pd.read_csv(io.BytesIO(data)).to_dict("records") if data else []
