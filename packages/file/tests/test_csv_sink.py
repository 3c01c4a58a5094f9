"""FileCSVSink: columns from config or the first event, a header in every file, the dialect,
events that do not fit, and repair of a torn last record."""

from __future__ import annotations

import csv
import io

import pump
from pump.common import IteratorSource
from pump.testing import CollectingSink
from pump_file import FileCSVSink


def read_csv(path, **kwargs) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(), newline=""), **kwargs))


async def test_columns_come_from_the_first_event_and_every_part_has_a_header(tmp_path, fx):
    events = [{"id": i, "name": f"n,{i}", "note": 'say "hi"\nbye'} for i in range(10)]
    await fx.write_all(
        FileCSVSink, {"path": str(tmp_path / "{n}.csv"), "max_events": 4}, events, batch_size=3
    )
    assert fx.files(tmp_path) == ["0.csv", "1.csv", "2.csv"]
    rows = [read_csv(tmp_path / f"{n}.csv") for n in range(3)]
    assert all(r[0] == ["id", "name", "note"] for r in rows)
    assert [len(r) - 1 for r in rows] == [4, 4, 2]
    assert rows[0][1] == ["0", "n,0", 'say "hi"\nbye']


async def test_configured_columns_missing_values_and_other_key_orders(tmp_path, fx):
    events = [{"b": 1, "a": 2}, {"a": 3}, ["x", "y"]]
    await fx.write_all(
        FileCSVSink,
        {"path": str(tmp_path / "a.csv"), "fieldnames": ["a", "b"], "restval": "?"},
        events,
    )
    assert read_csv(tmp_path / "a.csv") == [["a", "b"], ["2", "1"], ["3", "?"], ["x", "y"]]


async def test_every_dialect_option_is_honoured(tmp_path, fx):
    events = [{"a": "x;y", "b": 1.5}, {"a": "q'q", "b": None}]
    config = {
        "path": str(tmp_path / "a.csv"),
        "delimiter": ";",
        "quotechar": "'",
        "quoting": "all",
        "lineterminator": "\n",
        "doublequote": False,
        "escapechar": "\\",
        "header": False,
    }
    await fx.write_all(FileCSVSink, config, events)
    assert (tmp_path / "a.csv").read_text() == "'x;y';'1.5'\n'q\\'q';''\n"


async def test_extra_keys_fail_the_event_or_are_ignored(tmp_path, fx):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter", "sink_retries": 0})
    pipeline.build(
        IteratorSource(app, pipeline, [{"a": 1}, {"a": 2, "extra": 3}, {"a": 4}]),
        FileCSVSink(app, pipeline, "out", config={"path": str(tmp_path / "a.csv")}),
    )
    pipeline.set_dead_letter(dead := CollectingSink(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    assert read_csv(tmp_path / "a.csv") == [["a"], ["1"], ["4"]]
    assert [r["event"] for r in dead.events] == [{"a": 2, "extra": 3}]
    await fx.write_all(
        FileCSVSink,
        {"path": str(tmp_path / "b.csv"), "extrasaction": "ignore"},
        [{"a": 1}, {"a": 2, "x": 0}],
    )
    assert read_csv(tmp_path / "b.csv") == [["a"], ["1"], ["2"]]


async def test_another_encoding(tmp_path, fx):
    await fx.write_all(
        FileCSVSink, {"path": str(tmp_path / "a.csv"), "encoding": "cp1250"}, [{"jméno": "Šárka"}]
    )
    assert (tmp_path / "a.csv").read_bytes() == "jméno\r\nŠárka\r\n".encode("cp1250")


async def test_a_torn_record_even_inside_quotes_is_cut_off_an_unfinished_file(tmp_path, fx):
    complete = 'id,text\r\n1,"multi\nline"\r\n2,plain\r\n'
    (tmp_path / ".0.csv.inprogress").write_text(complete + '3,"torn\nin the mid', newline="")
    (tmp_path / ".1.csv.inprogress").write_text("id,text\r\n4,no line end", newline="")
    await fx.write_all(FileCSVSink, {"path": str(tmp_path / "{n}.csv")}, [{"id": 5, "text": "new"}])
    assert (tmp_path / "0.csv").read_bytes() == complete.encode()
    # a file with the header alone has nothing to keep: removed; the new part takes its name
    assert read_csv(tmp_path / "1.csv") == [["id", "text"], ["5", "new"]]
    assert fx.files(tmp_path) == ["0.csv", "1.csv"]


async def test_a_lone_line_break_is_quoted_whatever_the_line_terminator(tmp_path, fx):
    await fx.write_all(
        FileCSVSink,
        {"path": str(tmp_path / "a.csv"), "lineterminator": "\n"},
        [{"v": "x\ry"}, {"v": "z"}],
    )
    assert (tmp_path / "a.csv").read_bytes() == b'v\n"x\ry"\nz\n'
