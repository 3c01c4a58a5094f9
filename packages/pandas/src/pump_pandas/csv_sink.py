"""DataFrameCSVSink: DataFrames (and dict events) into CSV files: pump-file's CSV sink."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pump_file.csv_sink import FileCSVSink, FileCSVSinkConfig


class DataFrameCSVSink(FileCSVSink):
    """Writes each DataFrame event as CSV records, one per row, with pandas' `to_csv`.

    Everything else is pump-file's `FileCSVSink` (path templates, rotation, temporary names,
    fsync before acknowledging, repair of a torn tail after a crash), and dict or list events
    are written as it writes them. The columns are `fieldnames`, or those of the first frame
    (or dict); a frame lacking a column gets `restval` there, a frame with other columns fails
    (`extrasaction: raise`) or loses them (`ignore`). `max_events` counts events: a frame is
    one.
    """

    ConfigModel = FileCSVSinkConfig
    Config: FileCSVSinkConfig

    def encode(self, events: list[Any]) -> list[bytes]:
        if not any(isinstance(e, pd.DataFrame) for e in events):
            return super().encode(events)
        records: list[bytes] = []
        for event in events:
            if isinstance(event, pd.DataFrame):
                records.append(self._frame_records(event))
            else:
                records.extend(super().encode([event]))
        return records

    def decode(self, record: bytes) -> Any:
        """A record of several rows as a frame (values as text), of one row as a dict."""
        rows = self.decode_rows(record)
        return rows[0] if len(rows) == 1 else pd.DataFrame(rows, columns=self.fieldnames)

    def _frame_records(self, frame: pd.DataFrame) -> bytes:
        c = self.Config
        names = [str(column) for column in frame.columns]
        fields = list(self.use_fieldnames(names))  # the first frame names them, if none did
        extra = sorted(set(names) - set(fields))
        if extra and c.extrasaction == "raise":
            raise ValueError(f"the frame has columns that are not the file's columns: {extra}")
        if names != fields:
            frame = frame.set_axis(names, axis=1).reindex(columns=fields)
        dialect = self.dialect
        text = frame.to_csv(
            header=False,
            index=False,
            sep=dialect.delimiter,
            quotechar=dialect.quotechar or '"',
            quoting=dialect.quoting,
            lineterminator=dialect.lineterminator,
            escapechar=dialect.escapechar,
            doublequote=dialect.doublequote,
            na_rep=c.restval,
        )
        assert isinstance(text, str)
        return text.encode(c.encoding, c.encoding_errors)
