"""FileCSVSink: one CSV record per event, with a header line at the start of every file."""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pump.common.encoding import ErrorHandler, TextEncoding
from pump_file.dialect import CSVDialectConfig, csv_options
from pump_file.sink import FileSink, FileSinkConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class FileCSVSinkConfig(FileSinkConfig, CSVDialectConfig):
    """Settings of the CSV sink."""

    header: bool = Field(True, description="Write the field names as the first line of every file")
    fieldnames: list[str] = Field(
        [], description="Columns, in order (default: the keys of the first event)"
    )
    extrasaction: Literal["raise", "ignore"] = Field(
        "raise", description="An event with a key not among the columns: raise (it fails), ignore"
    )
    restval: str = Field("", description="Written for a column an event lacks")
    encoding: TextEncoding = Field("utf-8", description="Text encoding of the files")
    encoding_errors: ErrorHandler = Field(
        "strict", description="Unencodable characters: strict, replace, ..."
    )


class _Rows(list[str]):
    """Receives the rows csv.writer formats (one `write` call per row)."""

    __slots__ = ()
    write = list.append


class FileCSVSink(FileSink):
    """Writes each event as one CSV record: dicts by column name, lists and tuples as they are.

    The columns are `fieldnames`, or the keys of the first event. Every `csv` dialect option is
    honoured. An unfinished file left by a crash is cut back to its last complete record before
    it is published.
    """

    ConfigModel = FileCSVSinkConfig
    Config: FileCSVSinkConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        c = self.Config
        self._rows = _Rows()
        options = csv_options(c)
        self._csv = csv.writer(self._rows, **options)
        # csv.writer quotes a field holding \r or \n only if that character is in the line
        # terminator; with "\n" a lone "\r" would go out bare, and come back as a line end.
        terminator = self._csv.dialect.lineterminator
        self._stray = [ch for ch in "\r\n" if ch not in terminator]
        self._quoting = self._csv.dialect.quoting
        self._careful = csv.writer(self._rows, **{**options, "quoting": csv.QUOTE_ALL})
        self._fields: tuple[str, ...] | None = tuple(c.fieldnames) or None
        self._field_set = frozenset(self._fields or ())
        self._header = b""
        utf8 = codecs.lookup(c.encoding).name == "utf-8" and c.encoding_errors == "strict"
        self._to_bytes = None if utf8 else (c.encoding, c.encoding_errors)
        if self._fields is not None:
            self._header = self._format([self._fields])[0]

    @property
    def fieldnames(self) -> tuple[str, ...] | None:
        """The columns (known once configured or once the first event was written)."""
        return self._fields

    @property
    def dialect(self) -> Any:
        """The `csv` dialect records are written in (the dialect keys applied to `dialect`)."""
        return self._csv.dialect

    def use_fieldnames(self, fields: Iterable[str]) -> tuple[str, ...]:
        """The columns: `fields`, unless they are already known (configured, or named by an
        earlier event) — as the keys of a first dict event name them."""
        if self._fields is None:
            self._fields = tuple(fields)
            self._field_set = frozenset(self._fields)
            self._header = self._format([self._fields])[0]
        return self._fields

    def header(self) -> bytes:
        return self._header if self.Config.header else b""

    def decode(self, record: bytes) -> Any:
        """The row, a dict by column name when the columns are known (values as text); a
        list of them for a record of several rows."""
        rows = self.decode_rows(record)
        return rows[0] if len(rows) == 1 else rows

    def decode_rows(self, record: bytes) -> list[Any]:
        """The rows a record holds."""
        text = record.decode(*self._to_bytes) if self._to_bytes else record.decode()
        rows = list(csv.reader(io.StringIO(text, newline=""), dialect=self._csv.dialect))
        fields = self._fields
        return [dict(zip(fields, row, strict=False)) for row in rows] if fields else rows

    def _format(self, rows: Iterable[Iterable[Any]]) -> list[bytes]:
        out = self._rows
        out.clear()
        if self._stray:
            rows = listed = list(rows)
        self._csv.writerows(rows)
        if self._stray and any(ch in "".join(out) for ch in self._stray):
            self._quote_stray(listed)
        if self._to_bytes is None:
            records = list(map(str.encode, out))
        else:
            encoding, errors = self._to_bytes
            records = [s.encode(encoding, errors) for s in out]
        out.clear()
        return records

    def _quote_stray(self, rows: list[Iterable[Any]]) -> None:
        """Write again, fully quoted, the rows whose fields hold a line break character."""
        out = list(self._rows)
        end = len(self._csv.dialect.lineterminator)
        for i, text in enumerate(out):
            if any(ch in text[:-end] for ch in self._stray):
                if self._quoting == csv.QUOTE_NONE:
                    raise ValueError(
                        "a field holds a line break, which quoting 'none' cannot write; "
                        "use another quoting or line terminator"
                    )
                self._rows.clear()
                self._careful.writerow(rows[i])
                out[i] = self._rows[0]
        self._rows[:] = out

    def encode(self, events: list[Any]) -> list[bytes]:
        fields = self._fields
        if fields is None and isinstance(events[0], Mapping):
            fields = self.use_fieldnames(events[0])
        if (
            fields is not None
            and set(map(type, events)) == {dict}
            and list(map(tuple, events)).count(fields) == len(events)
        ):
            # every event a dict with exactly the columns, in order: its values are the row
            return self._format(map(dict.values, events))
        return self._format([self._row(event) for event in events])

    def _row(self, event: Any) -> Sequence[Any]:
        if isinstance(event, Mapping):
            fields = self._fields
            if fields is None:
                raise TypeError("a dict event needs columns (fieldnames, or a dict first event)")
            if self.Config.extrasaction == "raise":
                extra = event.keys() - self._field_set
                if extra:
                    raise ValueError(
                        f"event has keys that are not columns: {sorted(map(str, extra))}"
                    )
            restval = self.Config.restval
            return [event.get(f, restval) for f in fields]
        if isinstance(event, (list, tuple)):
            return event
        raise TypeError(
            f"a CSV record is made from a dict, list or tuple, not {type(event).__name__}"
        )

    def repair(self, fd: int, size: int) -> int:
        """Length of the complete records (the header alone does not count)."""
        from pump_file.csv_source import CSVReading, FileCSVSourceConfig

        c = self.Config
        dialect = {k: getattr(c, k) for k in CSVDialectConfig.model_fields}
        config = FileCSVSourceConfig(
            path="-",
            header=False,
            encoding=c.encoding,
            encoding_errors=c.encoding_errors,
            **dialect,
        )
        with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
            stream.seek(0)
            reading = CSVReading("", lambda offset: stream, 0, 1, config)
            records = 0
            while (chunk := reading.next_batch(4096, final=False)) is not None:
                records += len(chunk.events)
            good = reading.position
        return good if records > (1 if c.header else 0) else 0
