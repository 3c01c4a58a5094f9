"""FileCSVSource: one event per CSV record (a dict by header or given field names, or a list)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from typing import Any

from pydantic import Field, model_validator

from pump_file.claims import FileClaim
from pump_file.dialect import CSVDialectConfig, csv_options
from pump_file.lines import Block, LineReader
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading


class FileCSVSourceConfig(FileSourceConfig, CSVDialectConfig):
    """Settings of the CSV source: the dialect, and where field names come from."""

    header: bool = Field(True, description="The first record of a file is its header")
    fieldnames: list[str] = Field(
        [],
        description="Field names (with header: true the file's header is skipped); none and no "
        "header: events are lists",
    )
    rest_key: str = Field(
        "_rest", description="Key of the extra values of a record longer than the header"
    )
    rest_value: str | None = Field(None, description="Value of the fields a shorter record lacks")

    @model_validator(mode="after")
    def _text(self) -> FileCSVSourceConfig:
        if not self.encoding:
            raise ValueError("encoding must be set: CSV is text")
        return self


class _Chunk:
    """A block of lines fed to the csv reader, and how to tell the byte offset within it."""

    __slots__ = ("data", "done_bytes", "done_chars", "end", "simple", "start", "text", "view")

    def __init__(self, block: Block, text: str) -> None:
        self.data = block.data
        self.start = block.start
        self.end = block.end
        self.text = text
        self.view = io.StringIO(text, newline="\n")
        # ASCII: a character is a byte, so the text position is the byte offset
        self.simple = block.data.isascii()
        self.done_chars = 0
        self.done_bytes = 0

    def offset(self) -> int:
        """Byte offset just after the lines the csv reader has pulled from this chunk."""
        position = self.view.tell()
        if position >= len(self.text):
            return self.end
        if self.simple:
            return self.start + position
        # The reader pulls whole lines: count them, and find as many newlines in the bytes.
        lines = self.text.count("\n", self.done_chars, position)
        at = self.done_bytes
        find = self.data.index
        for _ in range(lines):
            at = find(b"\n", at) + 1
        self.done_chars, self.done_bytes = position, at
        return self.start + at


class CSVReading(Reading):
    """Parses records with `csv.reader`, over lines pulled on demand (records may span lines).

    Blocks of whole lines are decoded at once and fed to the reader through StringIO; the
    block the reader is in, and its position there, give the byte offset after any record.
    """

    def __init__(
        self,
        path: str,
        opener: Opener,
        offset: int,
        line: int,
        config: FileCSVSourceConfig,
    ) -> None:
        self.path = path
        self.config = config
        self.options = csv_options(config)
        self.encoding = config.encoding
        self.errors = config.encoding_errors
        self.names: list[str] | None = list(config.fieldnames) or None
        self.header_pending = config.header and offset == 0
        self.final = True
        if config.header and offset > 0 and self.names is None:
            self.names = self._header(opener)
        self.stream = self.source = opener(offset)
        #: Position after the last batch handed out.
        self.position = offset
        self._restart(offset, line)

    def _header(self, opener: Opener) -> list[str] | None:
        """The header record, read from the start of the file (when resuming past it)."""
        with opener(0) as stream:
            self.lines = LineReader(stream, 0, 1, 1 << 16, self.config.max_line_length)
            self._new_reader()
            for row in self.reader:
                if row:
                    return row
        return None

    def _restart(self, offset: int, line: int) -> None:
        """Parse from `offset` (a record boundary; the stream is there) with fresh readers."""
        self.lines = LineReader(
            self.source, offset, line, self.config.read_size, self.config.max_line_length
        )
        self._new_reader()

    def _new_reader(self) -> None:
        """A fresh csv reader over the line reader (which keeps what it buffered)."""
        self.line_base = self.lines.line - 1  # the line before the csv reader's first one
        self.start = self.lines.offset
        self.chunk: _Chunk | None = None
        self.exhausted = False
        self.reader = csv.reader(itertools.chain.from_iterable(self._chunks()), **self.options)

    def _chunks(self) -> Iterator[io.StringIO]:
        """Blocks of whole lines as text (chained in C into the lines the csv reader reads)."""
        lines = self.lines
        while True:
            block = lines.take_block(self.final)
            if block is None:
                self.exhausted = True
                return
            self.chunk = _Chunk(block, block.data.decode(self.encoding, self.errors))
            yield self.chunk.view

    def _offset(self) -> int:
        """Byte offset after every line the csv reader has pulled."""
        return self.start if self.chunk is None else self.chunk.offset()

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        if self.exhausted:
            if final and self.final:
                return None
            self._new_reader()  # more may have been written since: parse on
        self.final = final
        reader = self.reader
        before = reader.line_num
        base = self.line_base
        cut = False
        if final:
            # the whole file is there: parse a batch in C, work out line numbers after
            rows = list(itertools.islice(reader, limit))
            firsts = self._first_lines(rows, base + before + 1, reader.line_num - before)
            if len(firsts) != len(rows):
                rows = [row for row in rows if row]
            before = reader.line_num
            end = self._offset()
        else:
            rows, firsts = [], []
            end = self._offset()
            try:
                for row in reader:
                    if self.exhausted:
                        cut = True  # a record cut by the end of what is written so far
                        break
                    if row:
                        rows.append(row)
                        firsts.append(base + before + 1)
                    before = reader.line_num
                    end = self._offset()
                    if len(rows) >= limit:
                        break
            except csv.Error:
                if not self.exhausted:
                    raise
                cut = True
        line = base + before + 1
        if cut:
            # read the record again, complete, once the rest of it is written
            self.source.seek(end)
            self._restart(end, line)
        if self.header_pending and rows:
            header = rows.pop(0)
            firsts.pop(0)
            self.header_pending = False
            if self.names is None:
                self.names = header
        if end == self.position:
            return None
        self.position = end
        return Chunk(self._events(rows), self.contexts(firsts), end, line)

    @staticmethod
    def _first_lines(rows: list[list[str]], first: int, lines: int) -> list[int]:
        """The line each non-blank record starts on, given that `rows` took `lines` lines."""
        if lines == len(rows) and [] not in rows:
            return list(range(first, first + lines))  # one line each: the usual case
        firsts = []
        line = first
        for row in rows:
            if row:
                firsts.append(line)
                # a record spans one line more per line break inside its fields
                line += 1 + sum(field.count("\n") for field in row if isinstance(field, str))
            else:
                line += 1
        return firsts

    def _events(self, rows: list[list[str]]) -> list[Any]:
        names = self.names
        if names is None or not rows:
            return rows
        n = len(names)
        if set(map(len, rows)) == {n}:
            return list(map(dict, map(zip, itertools.repeat(names), rows)))
        rest_key, rest_value = self.config.rest_key, self.config.rest_value
        events = []
        for row in rows:
            event: dict[str, Any] = dict(zip(names, row, strict=False))
            if len(row) > n:
                event[rest_key] = row[n:]
            else:
                for name in names[len(row) :]:
                    event[name] = rest_value
            events.append(event)
        return events


class FileCSVSource(FileSource):
    """Reads CSV files: each record is an event, a dict keyed by the header's field names.

    Every `csv` dialect option is honoured; quoted fields may span lines. With `fieldnames`
    the names are given (and a header line, with `header: true`, is skipped); without a header
    or names, events are lists of strings. Blank lines are skipped. Contexts carry `file_path`
    and `file_line` (the line the record starts on).
    """

    ConfigModel = FileCSVSourceConfig
    Config: FileCSVSourceConfig

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        return CSVReading(claim.path, opener, offset, line, self.Config)
