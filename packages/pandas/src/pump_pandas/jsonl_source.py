"""DataFrameJSONLinesSource: JSON Lines files read a chunk of lines at a time into DataFrames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd

from pump_file.claims import FileClaim
from pump_file.lines import LineReader
from pump_file.source import Opener
from pump_pandas.source import DataFrameSource, DataFrameSourceConfig, FrameChunk


class InvalidLine(ValueError):
    """A line of a JSON Lines file is not a JSON object."""


class DataFrameJSONLinesSource(DataFrameSource):
    """Reads JSON Lines files (one JSON object per line) into DataFrames, `chunk_rows` lines
    at a time. A line that is not a JSON object goes, as text, to the pipeline's error policy
    (stop, skip, dead_letter); blank lines are skipped. The saved position is a byte offset,
    so a restart seeks straight to it; with `emit: rows`, lines are read a batch at a time.
    Contexts carry `file_path` and `file_row`, the first line's index (0-based).
    """

    ConfigModel = DataFrameSourceConfig
    Config: DataFrameSourceConfig
    row_positions = False

    def chunks(
        self, claim: FileClaim, opener: Opener, offset: int, line: int
    ) -> Iterator[FrameChunk]:
        c = self.Config
        size = self.chunk_size()
        encoding = c.encoding or "utf-8"
        with opener(offset) as stream:
            lines = LineReader(stream, offset, line, c.read_size, c.max_line_length)
            while (got := lines.take(size, final=True)) is not None:
                rows: list[Any] = []
                bad: list[tuple[int, Any, BaseException]] = []
                for number, raw in enumerate(got.lines, got.first):
                    if not raw.strip():
                        continue
                    try:
                        row = orjson.loads(raw if encoding == "utf-8" else raw.decode(encoding))
                    except orjson.JSONDecodeError as exc:
                        row = exc
                    if not isinstance(row, dict):
                        text = raw.decode(encoding, "replace")
                        what = f"not JSON: {row}" if isinstance(row, Exception) else "not an object"
                        bad.append(
                            (number, text, InvalidLine(f"{claim.path} line {number}: {what}"))
                        )
                        continue
                    rows.append(row)
                frame = pd.DataFrame(rows)
                yield FrameChunk(frame, got.first - 1, got.end, bad, got.first + len(got.lines))
