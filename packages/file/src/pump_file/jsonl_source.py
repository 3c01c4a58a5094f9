"""FileJSONLinesSource: one event per line of JSON Lines files, parsed with orjson."""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from typing import Any, BinaryIO, Literal

import orjson
from pydantic import Field

from pump_file.claims import FileClaim
from pump_file.lines import LineReader, decoder
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading

L = logging.getLogger(__name__)

_loads = orjson.loads


class InvalidLine(ValueError):
    """A line of a JSON Lines file is not JSON."""


class FileJSONLinesSourceConfig(FileSourceConfig):
    """Settings of the JSON Lines source."""

    on_invalid: Literal["error", "fail", "skip"] = Field(
        "error",
        description="A line that is not JSON: error (the line, as text, goes to the pipeline's "
        "on_error policy: stop, skip or dead_letter), fail (the file is set aside as failed "
        "after the lines before it are done), skip (counted as an error and logged)",
    )


class JSONLinesReading(Reading):
    """Parses each non-blank line as one JSON document."""

    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        offset: int,
        line: int,
        config: FileJSONLinesSourceConfig,
        on_skip: Callable[[str, int, Exception], None],
    ) -> None:
        self.path = path
        self.stream = stream
        self.lines = LineReader(stream, offset, line, config.read_size, config.max_line_length)
        utf8 = codecs.lookup(config.encoding or "utf-8").name == "utf-8"
        # orjson reads UTF-8 bytes directly; other encodings are decoded first.
        self.decode = None if utf8 else decoder(config.encoding, config.encoding_errors)
        self.on_invalid = config.on_invalid
        self.on_skip = on_skip

    def buffered(self, limit: int) -> bool:
        return self.lines.can_take(limit)

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        # in the event loop (buffered() said so) a take must not read: short, if need be
        got = self.lines.take(limit, final, read=not self.lines.can_take(limit))
        if got is None:
            return None
        lines: list[Any] = got.lines if self.decode is None else self.decode(got.lines)
        first = got.first
        try:
            events = list(map(_loads, lines))
        except orjson.JSONDecodeError:
            return self._slowly(lines, first, got.end)
        contexts = self.contexts(range(first, first + len(events)))
        return Chunk(events, contexts, got.end, first + len(lines))

    def _slowly(self, lines: list[Any], first: int, end: int) -> Chunk:
        """Line by line: blank lines are skipped, invalid ones handled per `on_invalid`."""
        events: list[Any] = []
        contexts: list[dict[str, Any]] = []
        errors: dict[int, BaseException] = {}
        for number, line in enumerate(lines, first):
            if not line.strip():
                continue
            try:
                events.append(_loads(line))
            except orjson.JSONDecodeError as exc:
                if self.on_invalid == "fail":
                    raise InvalidLine(f"line {number} is not JSON: {exc}") from None
                if self.on_invalid == "skip":
                    self.on_skip(self.path, number, exc)
                    continue
                text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
                errors[len(events)] = InvalidLine(f"{self.path} line {number} is not JSON: {exc}")
                events.append(text)
            contexts.append({"file_path": self.path, "file_line": number})
        return Chunk(events, contexts, end, first + len(lines), errors or None)


class FileJSONLinesSource(FileSource):
    """Reads JSON Lines files: each non-blank line is one event (the parsed JSON value).

    Contexts carry `file_path` and `file_line`.
    """

    ConfigModel = FileJSONLinesSourceConfig
    Config: FileJSONLinesSourceConfig

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        return JSONLinesReading(
            claim.path, opener(offset), offset, line, self.Config, self._skipped
        )

    def _skipped(self, path: str, line: int, exc: Exception) -> None:
        self.counters.errors += 1
        L.warning("%s: %s line %d skipped: not JSON: %s", self.location(), path, line, exc)
