"""FileMultiLineSource: lines joined into events by a start or a continuation pattern."""

from __future__ import annotations

import pump
from pump_file import FileMultiLineSource

LOG = (
    "2024-01-01 12:00:00 INFO started\n"
    "2024-01-01 12:00:01 ERROR failed\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1\n'
    "ValueError: boom\n"
    "2024-01-01 12:00:02 INFO done\n"
)


async def test_a_start_pattern_begins_each_event(tmp_path, fx):
    (tmp_path / "a.log").write_text(LOG)
    events, contexts, _ = await fx.read_all(
        FileMultiLineSource, {"path": str(tmp_path / "a.log"), "start_pattern": r"\d{4}-\d\d-\d\d "}
    )
    assert events == [
        "2024-01-01 12:00:00 INFO started",
        "2024-01-01 12:00:01 ERROR failed\nTraceback (most recent call last):\n"
        '  File "x.py", line 1\nValueError: boom',
        "2024-01-01 12:00:02 INFO done",
    ]
    assert [c["file_line"] for c in contexts] == [1, 2, 6]


async def test_a_continuation_pattern_joins_indented_lines(tmp_path, fx):
    (tmp_path / "a.log").write_text("a\n  a2\n  a3\nb\nc\n\tc2")
    events, _, _ = await fx.read_all(
        FileMultiLineSource,
        {"path": str(tmp_path / "a.log"), "continue_pattern": r"\s", "separator": "|"},
    )
    assert events == ["a|  a2|  a3", "b", "c|\tc2"]


async def test_max_lines_bounds_an_event(tmp_path, fx):
    (tmp_path / "a.log").write_text("start\n" + "more\n" * 5)
    events, _, _ = await fx.read_all(
        FileMultiLineSource,
        {"path": str(tmp_path / "a.log"), "start_pattern": "start", "max_lines": 4},
    )
    assert events == ["start\nmore\nmore\nmore", "more\nmore"]


class StopAfter(pump.Sink):
    def __init__(self, app, pipeline, ok):
        super().__init__(app, pipeline, "stop_after")
        self.ok, self.events = ok, []

    def write(self, events, contexts):
        if self.ok <= 0:
            raise OSError("gone")
        self.ok -= 1
        self.events.extend(events)


async def test_the_position_stops_before_the_open_event_so_a_resume_reads_it_whole(tmp_path, fx):
    records = [f"R{i}\n cont {i}.1\n cont {i}.2\n" for i in range(300)]
    (tmp_path / "a.log").write_text("".join(records))
    config = {
        "path": str(tmp_path / "a.log"),
        "start_pattern": "R",
        "batch_size": 7,
        "read_size": 100,
    }
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop", "sink_retries": 0})
    pipeline.build(
        FileMultiLineSource(app, pipeline, "src", config=config),
        sink := StopAfter(app, pipeline, 5),
    )
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 1
    events, contexts, _ = await fx.read_all(FileMultiLineSource, config)
    joined = [r.rstrip("\n") for r in records]
    assert sink.events + events == joined
    assert contexts[0]["file_line"] == 3 * len(sink.events) + 1
