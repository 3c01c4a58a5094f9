"""The sinks with DataFrame events: CSV rows from frames, Parquet partitions, unstorable frames."""

from __future__ import annotations

import csv

import pandas as pd

from pump.testing import HarnessSource
from pump_pandas import DataFrameCSVSink, ParquetSink

from .conftest import pipeline, run_app


def frames():
    return [
        pd.DataFrame({"id": [1, 2], "country": ["CZ", "DE"], "amount": [1.5, None]}),
        pd.DataFrame({"id": [3], "country": ["CZ"], "amount": [2.0]}),
    ]


async def test_the_csv_sink_writes_a_row_per_frame_row_under_one_header(tmp_path):
    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=2)
        source.feed([(None, f) for f in frames()])
        return [source, DataFrameCSVSink(app, p, "out", config={"path": str(tmp_path / "o.csv")})]

    app, _p, _ = pipeline(build)
    assert await run_app(app) == 0
    rows = list(csv.reader((tmp_path / "o.csv").open(newline="")))
    assert rows == [
        ["id", "country", "amount"],
        ["1", "CZ", "1.5"],
        ["2", "DE", ""],
        ["3", "CZ", "2.0"],
    ]


async def test_a_csv_write_failing_for_good_dead_letters_each_frame_as_a_frame(tmp_path):
    """Out of retries, the records the sink handed back reach the error policy as what they
    hold: several rows as a frame, one row as a dict (values as text)."""
    (tmp_path / "blocker").write_text("a file where a folder should be")

    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=3)
        source.feed([(None, f) for f in [*frames(), {"id": 4, "country": "SK", "amount": 1}]])
        path = str(tmp_path / "blocker" / "o.csv")
        return [source, DataFrameCSVSink(app, p, "out", config={"path": path})]

    app, p, dead = pipeline(build, dead_letter=True, sink_retries=0)
    assert await run_app(app) == 0
    assert [r["event_encoding"] for r in dead.events] == ["dataframe", None, None]
    assert [r["event"] for r in dead.events] == [
        [{"id": "1", "country": "CZ", "amount": "1.5"}, {"id": "2", "country": "DE", "amount": ""}],
        {"id": "3", "country": "CZ", "amount": "2.0"},
        {"id": "4", "country": "SK", "amount": "1"},
    ]
    assert all(r["error"].startswith("NotADirectoryError") for r in dead.events)
    assert p.metrics()["events_out"] == 0


async def test_parquet_partitions_and_a_frame_arrow_cannot_store_is_dead_lettered(tmp_path):
    bad = pd.DataFrame({"id": [9], "country": ["CZ"], "amount": [object()]})

    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=3)
        source.feed([(None, f) for f in [*frames(), bad]])
        sink = ParquetSink(
            app,
            p,
            "out",
            config={"path": str(tmp_path / "pq/part-{n}.parquet"), "partition_by": ["country"]},
        )
        return [source, sink]

    app, _p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    folders = sorted(x.name for x in (tmp_path / "pq").iterdir())
    assert folders == ["country=CZ", "country=DE"]
    cz = pd.read_parquet(tmp_path / "pq/country=CZ")
    assert sorted(cz["id"]) == [1, 3] and "country" not in cz.columns
    back = pd.read_parquet(tmp_path / "pq")  # pyarrow's dataset reads the folders back
    assert sorted(back["id"]) == [1, 2, 3] and set(back["country"]) == {"CZ", "DE"}
    (record,) = dead.events
    assert record["error"].startswith("PermanentWriteError")
    assert record["event"][0]["id"] == 9 and record["event_encoding"] == "dataframe"


async def test_dict_events_arrow_cannot_store_fail_alone_and_the_rest_is_written(tmp_path):
    events = [
        {"id": i, "country": "CZ" if i % 2 else "DE", "amount": i * 1.5 if i % 3 else i}
        for i in range(12)
    ]
    events[4]["amount"] = "n/a"  # a string among numbers: the column's type is a number
    events[7]["amount"] = object()  # Arrow stores no such thing at all

    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=12)
        source.feed([(None, e) for e in events])
        sink = ParquetSink(
            app,
            p,
            "out",
            config={"path": str(tmp_path / "pq/part-{n}.parquet"), "partition_by": ["country"]},
        )
        return [source, sink]

    app, p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    back = pd.read_parquet(tmp_path / "pq")
    assert sorted(back["id"]) == [i for i in range(12) if i not in (4, 7)]
    assert str(back["amount"].dtype) == "float64"
    assert dict(zip(back["id"], back["amount"], strict=True)) == {
        e["id"]: float(e["amount"]) for e in events if e["id"] not in (4, 7)
    }
    assert [d["event"]["id"] for d in dead.events] == [4, 7]
    assert (
        "column 'amount': 'n/a' (string) does not fit the column's type double"
        in (dead.events[0]["error"])
    )
    assert "column 'amount': <object object at" in dead.events[1]["error"]
    assert "cannot be stored" in dead.events[1]["error"]
    assert p.metrics()["dead_lettered"] == 2
