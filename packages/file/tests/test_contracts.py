"""pump.testing's contract suites: every file source and sink honours the delivery rules."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar

import orjson

import pump
from pump_file import (
    FileBlockSink,
    FileBlockSource,
    FileCSVSink,
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONLinesSource,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
)
from pump_file.testing import InputFolderContract, OutputFolderContract

# -- sources ------------------------------------------------------------------------------


class FileSourceRules(InputFolderContract):
    """The JSON Lines of `events` in one file, read as lines by default."""

    expected_context_keys: ClassVar[tuple[str, ...]] = ("file_path", "file_line")
    source_cls: ClassVar[type[pump.Source]] = FileLineSource
    extension: ClassVar[str] = "log"
    extra_config: ClassVar[dict[str, Any]] = {"batch_size": 5}
    bad_configs = ({"batch_size": 0}, {"post_process": "shred"}, {"path": ""})

    def files_for(self, events: list[Any]) -> list[tuple[str, bytes]]:
        """(name, content) of the files holding `events`: one file by default."""
        return [("batch", b"".join(orjson.dumps(e) + b"\n" for e in events))]

    def decode(self, event: Any) -> Any:
        return orjson.loads(event)


class TestFileLineSource(FileSourceRules):
    pass


class TestFileJSONLinesSource(FileSourceRules):
    source_cls = FileJSONLinesSource
    extension = "jsonl"

    def decode(self, event: Any) -> Any:
        return event


class TestFileCSVSource(FileSourceRules):
    source_cls = FileCSVSource
    extension = "csv"

    def files_for(self, events):
        out = io.StringIO()
        writer = csv.DictWriter(out, ["id", "run", "text"])
        writer.writeheader()
        writer.writerows(events)
        return [("batch", out.getvalue().encode())]

    def decode(self, event):
        return {**event, "id": int(event["id"])}


class TestFileMultiLineSource(FileSourceRules):
    source_cls = FileMultiLineSource
    extra_config: ClassVar[dict[str, Any]] = {"batch_size": 5, "start_pattern": r"\{"}

    def files_for(self, events):
        return [("batch", b"".join(orjson.dumps(e) + b"\n  continued\n" for e in events))]

    def decode(self, event):
        first, rest = event.split("\n", 1)
        assert rest == "  continued"
        return orjson.loads(first)


class TestFileJSONSourceSplit(FileSourceRules):
    source_cls = FileJSONSource
    extension = "json"
    expected_context_keys = ("file_path", "file_item")
    extra_config: ClassVar[dict[str, Any]] = {"batch_size": 5, "split_arrays": True}

    def files_for(self, events):
        return [("batch", orjson.dumps(events))]

    def decode(self, event):
        return event


class TestFileBlockSource(FileSourceRules):
    source_cls = FileBlockSource
    extension = "bin"
    expected_context_keys = ("file_path", "file_name", "file_size")

    def files_for(self, events):
        return [(f"e{i}", orjson.dumps(e)) for i, e in enumerate(events)]


# -- sinks --------------------------------------------------------------------------------


class FileSinkRules(OutputFolderContract):
    """read_back reads every file, finished or still being written (.part-N.*.inprogress)."""

    sink_cls: ClassVar[type[pump.Sink]] = FileJSONLinesSink
    name: ClassVar[str] = "part-{n}.jsonl"
    read_unfinished = True
    bad_configs = ({"fsync": "maybe"}, {"path": ""})

    def records(self, path: Path) -> list[Any]:
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class TestFileJSONLinesSink(FileSinkRules):
    pass


class TestFileJSONLinesSinkRotating(FileSinkRules):
    """Rotating after every 3 events: events spread over many files, all readable."""

    def make_sink(self, app, pipeline, config=None):
        return super().make_sink(app, pipeline, {"max_events": 3, **(config or {})})


class TestFileCSVSink(FileSinkRules):
    sink_cls = FileCSVSink
    name = "part-{n}.csv"

    def records(self, path):
        return list(csv.DictReader(io.StringIO(path.read_text(), newline="")))

    def event_key(self, event):
        return (str(event["id"]), event["run"], event["text"])


class TestFileBlockSink(FileSinkRules):
    sink_cls = FileBlockSink
    name = "{n:05d}.bin"

    def make_events(self, n):
        return [orjson.dumps(e) for e in super().make_events(n)]

    def records(self, path):
        return [path.read_bytes()]
