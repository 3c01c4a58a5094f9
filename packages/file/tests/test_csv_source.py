"""FileCSVSource: every dialect option, header or given names, records spanning lines, resume."""

from __future__ import annotations

import csv
import gzip

import pump
from pump_file import FileCSVSource


async def test_header_gives_the_keys_and_contexts_give_each_records_first_line(tmp_path, fx):
    (tmp_path / "a.csv").write_text(
        'id,text\n1,plain\n\n2,"two\nlines"\n3,"three\r\nlines"\n4,last'
    )
    events, contexts, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "a.csv"), "batch_size": 2}
    )
    assert events == [
        {"id": "1", "text": "plain"},
        {"id": "2", "text": "two\nlines"},
        {"id": "3", "text": "three\r\nlines"},
        {"id": "4", "text": "last"},
    ]
    assert [c["file_line"] for c in contexts] == [2, 4, 6, 8]


async def test_line_numbers_of_multi_line_records_are_right_in_big_batches(tmp_path, fx):
    rows = [[i, "x\ny" if i % 3 == 0 else "z"] for i in range(500)]
    with (tmp_path / "a.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "v"])
        w.writerows(rows)
    events, contexts, _ = await fx.read_all(FileCSVSource, {"path": str(tmp_path / "a.csv")})
    line, expected = 2, []
    for i, _ in rows:
        expected.append(line)
        line += 2 if i % 3 == 0 else 1
    assert [c["file_line"] for c in contexts] == expected
    assert [e["v"] for e in events] == [r[1] for r in rows]


async def test_every_dialect_option_is_honoured(tmp_path, fx):
    (tmp_path / "a.csv").write_text(
        "id;name;note\n1; 'Smith; John';'He said ''hi'''\n2; plain;esc\\;aped\n"
    )
    events, _, _ = await fx.read_all(
        FileCSVSource,
        {
            "path": str(tmp_path / "a.csv"),
            "delimiter": ";",
            "quotechar": "'",
            "escapechar": "\\",
            "doublequote": True,
            "skipinitialspace": True,
            "strict": True,
        },
    )
    assert events == [
        {"id": "1", "name": "Smith; John", "note": "He said 'hi'"},
        {"id": "2", "name": "plain", "note": "esc;aped"},
    ]


async def test_quoting_nonnumeric_turns_unquoted_fields_into_numbers(tmp_path, fx):
    (tmp_path / "a.csv").write_text('"a","b"\n1.5,"x"\n')
    events, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "a.csv"), "quoting": "nonnumeric"}
    )
    assert events == [{"a": 1.5, "b": "x"}]


async def test_quoting_none_keeps_quotes(tmp_path, fx):
    (tmp_path / "a.tsv").write_text('a\tb\n"q"\tx\n')
    events, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "a.tsv"), "dialect": "excel-tab", "quoting": "none"}
    )
    assert events == [{"a": '"q"', "b": "x"}]


async def test_given_field_names_with_and_without_a_header_line(tmp_path, fx):
    (tmp_path / "h.csv").write_text("ignored,header\n1,2\n")
    (tmp_path / "n.csv").write_text("3,4\n")
    (tmp_path / "l.csv").write_text("3,4\n")
    with_header, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "h.csv"), "fieldnames": ["x", "y"]}
    )
    without, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "n.csv"), "fieldnames": ["x", "y"], "header": False}
    )
    lists, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "l.csv"), "header": False}
    )
    assert with_header == [{"x": "1", "y": "2"}]
    assert without == [{"x": "3", "y": "4"}]
    assert lists == [["3", "4"]]


async def test_short_and_long_records(tmp_path, fx):
    (tmp_path / "a.csv").write_text("a,b,c\n1\n1,2,3,4,5\n")
    events, _, _ = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "a.csv"), "rest_key": "more", "rest_value": "-"}
    )
    assert events == [
        {"a": "1", "b": "-", "c": "-"},
        {"a": "1", "b": "2", "c": "3", "more": ["4", "5"]},
    ]


async def test_malformed_input_in_strict_mode_fails_the_file(tmp_path, fx):
    (tmp_path / "a.csv").write_text('a,b\n1,"unterminated\n')
    events, _, source = await fx.read_all(
        FileCSVSource, {"path": str(tmp_path / "a.csv"), "strict": True}
    )
    assert events == [] and source.files_failed == 1
    assert "a.csv-failed" in fx.files(tmp_path)


async def test_compressed_csv(tmp_path, fx):
    (tmp_path / "a.csv.gz").write_bytes(
        gzip.compress(b"k,v\n" + b"".join(b"%d,x\n" % i for i in range(5000)))
    )
    events, contexts, _ = await fx.read_all(FileCSVSource, {"path": str(tmp_path / "*.csv.gz")})
    assert (
        len(events) == 5000
        and events[-1] == {"k": "4999", "v": "x"}
        and contexts[-1]["file_line"] == 5001
    )


class StopAfter(pump.Sink):
    def __init__(self, app, pipeline, ok):
        super().__init__(app, pipeline, "stop_after")
        self.ok, self.events = ok, []

    def write(self, events, contexts):
        if self.ok <= 0:
            raise OSError("gone")
        self.ok -= 1
        self.events.extend(events)


async def test_resuming_past_the_header_still_names_the_fields(tmp_path, fx):
    (tmp_path / "a.csv").write_text("n,sq\n" + "".join(f"{i},{i * i}\n" for i in range(100)))
    config = {"path": str(tmp_path / "a.csv"), "batch_size": 10}
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop", "sink_retries": 0})
    pipeline.build(
        FileCSVSource(app, pipeline, "src", config=config), sink := StopAfter(app, pipeline, 3)
    )
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 1
    events, contexts, _ = await fx.read_all(FileCSVSource, config)
    done = len(sink.events)
    assert done == 29  # the header took a place in the first batch
    assert events[0] == {"n": "29", "sq": "841"} and contexts[0]["file_line"] == 31
    assert len(events) == 100 - done
