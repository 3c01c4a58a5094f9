"""FileLineSource: one event per line of text files (BSPump's FileLineSource)."""

from __future__ import annotations

from typing import Any, BinaryIO

from pump_file.claims import FileClaim
from pump_file.lines import DecodeLines, LineReader, ascii_as_itself, decoder
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading


class LineReading(Reading):
    """Hands out decoded lines, `limit` at a time, with their line numbers."""

    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        offset: int,
        line: int,
        config: FileSourceConfig,
        decode: DecodeLines,
    ) -> None:
        self.path = path
        self.stream = stream
        encoding = config.encoding
        self.lines = LineReader(
            stream,
            offset,
            line,
            config.read_size,
            config.max_line_length,
            text=bool(encoding) and ascii_as_itself(encoding),
        )
        self.decode = decode

    def buffered(self, limit: int) -> bool:
        return self.lines.can_take(limit)

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        # in the event loop (buffered() said so) a take must not read: short, if need be
        got = self.lines.take(limit, final, read=not self.lines.can_take(limit))
        if got is None:
            return None
        lines = got.lines
        events: list[Any] = lines if type(lines[0]) is str else self.decode(lines)
        numbers = range(got.first, got.first + len(events))
        return Chunk(events, self.contexts(numbers), got.end, numbers.stop)


class FileLineSource(FileSource):
    """Reads text files line by line: each line is an event (str without its line end).

    With `encoding: ""` the events are the raw bytes of each line. Contexts carry `file_path`
    and `file_line`.
    """

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        c = self.Config
        return LineReading(
            claim.path,
            opener(offset),
            offset,
            line,
            c,
            decoder(c.encoding or None, c.encoding_errors),
        )
