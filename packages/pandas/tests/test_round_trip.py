"""Round trips: CSV → frames → Parquet → frames → JSON Lines, with the dtypes kept on the way."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq

import pump
from pump_file import FileJSONLinesSink
from pump_pandas import (
    DataFrameCSVSource,
    DataFrameJSONLinesSource,
    DataFrameParquetSource,
    DataFrameProcessor,
    FromDataFrame,
    ParquetSink,
)

from .conftest import pipeline, run_app

ROWS = 2500


def write_csv(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "user", "amount", "count", "at", "flag"])
        for i in range(ROWS):
            amount = "" if i % 97 == 0 else f"{i * 0.25:.2f}"
            at = f"2024-05-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
            w.writerow([i, f"user {i % 13}", amount, i % 7, at, "true" if i % 2 else "false"])


DTYPES = {"count": "Int32", "at": "datetime64[ns, UTC]", "user": "category"}


def double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(total=frame["amount"] * 2)


async def test_csv_to_parquet_to_jsonl_keeps_every_row_and_its_dtypes(tmp_path):
    write_csv(tmp_path / "in" / "data.csv")
    app, _, _ = pipeline(
        lambda app, p: [
            DataFrameCSVSource(
                app,
                p,
                "csv",
                config={"path": str(tmp_path / "in/*.csv"), "chunk_rows": 700, "dtypes": DTYPES},
            ),
            DataFrameProcessor(app, p, double),
            ParquetSink(app, p, "parquet", config={"path": str(tmp_path / "pq/part-{n}.parquet")}),
        ]
    )
    assert await run_app(app) == 0
    assert sorted(x.name for x in (tmp_path / "in").iterdir()) == ["data.csv-processed"]
    parts = sorted((tmp_path / "pq").iterdir())
    assert parts and all(not x.name.startswith(".") for x in parts)
    table = pd.concat([pd.read_parquet(x) for x in parts], ignore_index=True)
    assert len(table) == ROWS and list(table["id"]) == list(range(ROWS))
    assert str(table["count"].dtype) == "Int32"
    assert str(table["at"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(table["user"].dtype, pd.CategoricalDtype)
    assert table["amount"].dtype == "float64" and table["flag"].dtype == bool
    assert table["amount"].isna().sum() == len(range(0, ROWS, 97))
    assert (table["total"].dropna() == table["amount"].dropna() * 2).all()

    # Parquet → frames (row-group chunks) → rows → JSON Lines
    app, _, _ = pipeline(
        lambda app, p: [
            DataFrameParquetSource(
                app,
                p,
                "parquet",
                config={"path": str(tmp_path / "pq/*.parquet"), "chunk_rows": 512},
            ),
            FromDataFrame(app, p),
            FileJSONLinesSink(app, p, "jsonl", config={"path": str(tmp_path / "out.jsonl")}),
        ]
    )
    assert await run_app(app) == 0
    lines = [orjson.loads(x) for x in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [r["id"] for r in lines] == list(range(ROWS))
    first = lines[1]
    assert first == {
        "id": 1,
        "user": "user 1",
        "amount": 0.25,
        "count": 1,
        "at": "2024-05-01T00:00:01+00:00",
        "flag": True,
        "total": 0.5,
    }
    assert lines[0]["amount"] is None and lines[0]["total"] is None  # null, not NaN

    # JSON Lines → frames: the values come back with their types
    app, _p, _ = pipeline(
        lambda app, p: [
            DataFrameJSONLinesSource(
                app,
                p,
                "jsonl",
                config={
                    "path": str(tmp_path / "out.jsonl"),
                    "dtypes": DTYPES,
                    "chunk_rows": 1000,
                },
            ),
            ParquetSink(app, p, "parquet", config={"path": str(tmp_path / "again/p-{n}.parquet")}),
        ]
    )
    assert await run_app(app) == 0
    again = pd.concat(
        [pd.read_parquet(x) for x in sorted((tmp_path / "again").iterdir())], ignore_index=True
    )
    pd.testing.assert_frame_equal(again, table, check_categorical=False)


async def test_rows_mode_hands_over_one_dict_per_row_with_its_position(tmp_path):
    write_csv(tmp_path / "in" / "data.csv")
    from pump.testing import CollectingSink

    sinks: list[CollectingSink] = []

    def build(app: pump.Application, p: pump.Pipeline) -> list:
        sinks.append(CollectingSink(app, p, "collect"))
        source = DataFrameCSVSource(
            app,
            p,
            "csv",
            config={
                "path": str(tmp_path / "in/*.csv"),
                "emit": "rows",
                "chunk_rows": 1000,
                "batch_size": 300,
                "columns": ["id", "amount"],
            },
        )
        return [source, sinks[0]]

    app, _p, _ = pipeline(build)
    assert await run_app(app) == 0
    events, contexts = sinks[0].events, sinks[0].contexts
    assert [e["id"] for e in events] == list(range(ROWS))
    assert all(set(e) == {"id", "amount"} for e in events)
    assert events[0]["amount"] is None and events[3] == {"id": 3, "amount": 0.75}
    assert [c["file_row"] for c in contexts] == list(range(ROWS))
    assert {c["file_path"] for c in contexts} == {str(tmp_path / "in/data.csv")}


def test_the_published_files_record_the_rows_they_hold(tmp_path):
    import asyncio

    write_csv(tmp_path / "in" / "data.csv")
    app, _p, _ = pipeline(
        lambda app, p: [
            DataFrameCSVSource(
                app, p, "csv", config={"path": str(tmp_path / "in/*.csv"), "chunk_rows": 1000}
            ),
            ParquetSink(app, p, "out", config={"path": str(tmp_path / "pq/part-{n}.parquet")}),
        ]
    )
    assert asyncio.run(run_app(app)) == 0
    (part,) = (tmp_path / "pq").iterdir()
    held = orjson.loads(pq.read_metadata(part).metadata[b"pump.origins"])
    source = str(tmp_path / "in/data.csv")
    assert held == {
        "partition": "",
        "origins": [[source, 0, 1000], [source, 1000, 2000], [source, 2000, ROWS]],
    }
