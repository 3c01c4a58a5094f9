"""FileMultiLineSource: events that span lines (stack traces, multi-line log records)."""

from __future__ import annotations

import re
from typing import BinaryIO

from pydantic import Field, field_validator, model_validator

from pump_file.claims import FileClaim
from pump_file.lines import DecodeLines, LineReader, decoder
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading


class FileMultiLineSourceConfig(FileSourceConfig):
    """Settings of the multi-line source: how to tell where an event starts."""

    start_pattern: str = Field(
        "", description="Regular expression: a line matching it (at its start) begins an event"
    )
    continue_pattern: str = Field(
        "",
        description="Regular expression: a line matching it continues the previous event "
        "(use instead of start_pattern, e.g. '\\\\s' for indented continuation lines)",
    )
    max_lines: int = Field(1000, gt=0, description="Most lines in one event; more start a new one")
    separator: str = Field("\n", description="Joins the lines of an event")

    @field_validator("start_pattern", "continue_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_pattern(self) -> FileMultiLineSourceConfig:
        if bool(self.start_pattern) == bool(self.continue_pattern):
            raise ValueError("give exactly one of start_pattern and continue_pattern")
        if not self.encoding:
            raise ValueError("encoding must be set: patterns match text")
        return self


class MultiLineReading(Reading):
    """Joins lines into events; the open event waits for the line that starts the next one."""

    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        offset: int,
        line: int,
        config: FileMultiLineSourceConfig,
        decode: DecodeLines,
    ) -> None:
        self.path = path
        self.stream = stream
        self.lines = LineReader(stream, offset, line, config.read_size, config.max_line_length)
        self.decode = decode
        if config.start_pattern:
            self.starts = re.compile(config.start_pattern).match
            self.invert = False
        else:
            self.starts = re.compile(config.continue_pattern).match
            self.invert = True  # a line that does NOT match the pattern starts an event
        self.max_lines = config.max_lines
        self.separator = config.separator
        self.open: list[str] = []  # lines of the event not complete yet
        self.open_bytes = 0
        self.open_line = line

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        events: list[str] = []
        firsts: list[int] = []
        while len(events) < limit:
            got = self.lines.take(limit - len(events), final)
            if got is None:
                if final and self.open:
                    events.append(self.separator.join(self.open))
                    firsts.append(self.open_line)
                    self.open, self.open_bytes = [], 0
                break
            texts = self.decode(got.lines)
            sizes = [len(raw) + 1 for raw in got.lines]
            if not got.terminated:
                sizes[-1] -= 1
            starts, invert, max_lines = self.starts, self.invert, self.max_lines
            number = got.first
            for text, size in zip(texts, sizes, strict=True):
                begins = (starts(text) is None) if invert else (starts(text) is not None)
                if self.open and (begins or len(self.open) >= max_lines):
                    events.append(self.separator.join(self.open))
                    firsts.append(self.open_line)
                    self.open, self.open_bytes = [], 0
                if not self.open:
                    self.open_line = number
                self.open.append(text)
                self.open_bytes += size
                number += 1
        if not events:
            return None
        # The position stops where the open event begins: it is read again after a restart.
        end = self.lines.offset - self.open_bytes
        line = self.open_line if self.open else self.lines.line
        return Chunk(list(events), self.contexts(firsts), end, line)

    def flush(self) -> Chunk | None:
        if not self.open:
            return None
        event = self.separator.join(self.open)
        first = self.open_line
        self.open, self.open_bytes = [], 0
        return Chunk(
            [event],
            [{"file_path": self.path, "file_line": first}],
            self.lines.offset,
            self.lines.line,
        )


class FileMultiLineSource(FileSource):
    """Reads text files whose events span several lines, joined with `separator`.

    An event begins at a line matching `start_pattern` (or, with `continue_pattern`, at a line
    not matching it) and runs until the next one begins. The last event of a file ends at its
    end; in follow mode, an event with no new line for a while is handed over as it is.
    Contexts carry `file_path` and `file_line` (the event's first line).
    """

    ConfigModel = FileMultiLineSourceConfig
    Config: FileMultiLineSourceConfig

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        c = self.Config
        return MultiLineReading(
            claim.path, opener(offset), offset, line, c, decoder(c.encoding, c.encoding_errors)
        )
