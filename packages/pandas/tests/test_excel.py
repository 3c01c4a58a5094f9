"""The Excel source: a sheet streamed in chunks, its cells read as pandas.read_excel reads them."""

from __future__ import annotations

import datetime as dt
import itertools

import openpyxl
import pandas as pd
import pytest

from pump.testing import CollectingSink
from pump_pandas import DataFrameExcelSource, frame_rows
from pump_pandas.excel_source import sheet_frames

from .conftest import pipeline, run_app


def workbook(path):
    """A workbook whose 'data' sheet has what read_excel treats specially."""
    book = openpyxl.Workbook()
    book.active.title = "first"
    book.active.append(["not", "this", "sheet"])
    sheet = book.create_sheet("data")
    sheet.append(["id", "name", None, "when", "x", "name"])  # a blank and a repeated name
    sheet.append([1, "a", None, dt.datetime(2024, 1, 1), 1.0, "b"])
    sheet.append([None] * 6)  # an empty row inside the sheet: a row of nulls
    sheet.append([2, None, None, dt.datetime(2024, 1, 2), 2.5, None])
    sheet.append([3, "c", 5, None, "=1/0", "d"])  # a formula: its cached value (none here)
    sheet.append([4, "d", None, dt.datetime(2024, 1, 4), 4.0])
    sheet.append([5, "e", None, None, 5.5, None, "wide"])  # wider than the header
    sheet.append([None] * 6)  # trailing empty rows are not rows
    sheet.append([None] * 6)
    book.save(path)


def comparable(rows):
    return [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in rows]


async def test_a_sheet_is_read_in_chunks_with_the_rows_read_excel_reads(tmp_path):
    (tmp_path / "in").mkdir()
    workbook(tmp_path / "in" / "book.xlsx")
    expected = pd.read_excel(tmp_path / "in" / "book.xlsx", sheet_name="data")
    out = []

    def build(app, p):
        out.append(CollectingSink(app, p, "out"))
        config = {"path": str(tmp_path / "in/*.xlsx"), "sheet": "data", "chunk_rows": 2}
        return [DataFrameExcelSource(app, p, "src", config=config), out[0]]

    app, _p, _ = pipeline(build)
    assert await run_app(app) == 0
    frames = out[0].events
    assert [len(f) for f in frames] == [2, 2, 2]
    assert [c["file_row"] for c in out[0].contexts] == [0, 2, 4]
    got = [r for f in frames for r in frame_rows(f)]
    # read_excel gives 'Unnamed: 6' to every row; here it is there from the row that fills it
    want = comparable(frame_rows(expected))
    for row in want[:4]:
        del row["Unnamed: 6"]
    assert comparable(got) == want
    assert list(frames[0].columns) == ["id", "name", "Unnamed: 2", "when", "x", "name.1"]
    assert (tmp_path / "in" / "book.xlsx-processed").exists()


async def test_a_missing_sheet_fails_the_file_naming_it(tmp_path):
    (tmp_path / "in").mkdir()
    workbook(tmp_path / "in" / "book.xlsx")

    def build(app, p):
        config = {"path": str(tmp_path / "in/*.xlsx"), "sheet": "nope"}
        return [DataFrameExcelSource(app, p, "src", config=config), CollectingSink(app, p, "o")]

    app, p, _ = pipeline(build)
    await run_app(app)
    (error,) = p.errors
    message = str(error.error)
    assert "no sheet 'nope'" in message and "['first', 'data']" in message
    assert (tmp_path / "in" / "book.xlsx-failed").exists()


@pytest.mark.parametrize("header", [True, False])
def test_frames_are_made_as_rows_come_not_after_the_whole_sheet(header):
    read = 0

    class Cell:
        def __init__(self, value):
            self.value = value
            self.data_type = "n"

    def rows():
        nonlocal read
        for i in itertools.count():
            read += 1
            yield [Cell(f"c{j}" if i == 0 and header else i * 10 + j) for j in range(3)]

    frames = sheet_frames(rows(), header=header, size=1000)
    first = next(frames)
    assert len(first) == 1000 and read == 1000 + header  # not one row more than it needs
    second = next(frames)
    assert read == 2000 + header
    assert list(second.columns) == (["c0", "c1", "c2"] if header else [0, 1, 2])
