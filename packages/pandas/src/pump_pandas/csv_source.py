"""DataFrameCSVSource: CSV files read `chunk_rows` rows at a time with pandas' C parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pydantic import Field

from pump_file.claims import FileClaim
from pump_file.source import Opener
from pump_pandas.source import DataFrameSource, DataFrameSourceConfig, FrameChunk


class DataFrameCSVSourceConfig(DataFrameSourceConfig):
    """Settings of the CSV DataFrame source."""

    delimiter: str = Field(",", min_length=1, description="Field separator")
    quotechar: str = Field('"', min_length=1, max_length=1, description="Quote character")
    header: bool = Field(True, description="The first line of a file names the columns")
    names: list[str] = Field(
        [], description="Column names (with header: true the file's header is replaced)"
    )
    na_values: list[str] = Field([], description="Further strings read as null")
    keep_default_na: bool = Field(
        True, description="Read pandas' usual null strings ('', NA, NaN, null, ...) as null"
    )


def skip_to(frames: Iterator[pd.DataFrame], offset: int) -> Iterator[FrameChunk]:
    """Chunks of row-positioned frames, the rows before `offset` left out."""
    row = 0
    for frame in frames:
        n = len(frame)
        if row + n <= offset:
            row += n
            continue
        first = row
        if row < offset:
            frame, first = frame.iloc[offset - row :], offset
        row += n
        yield FrameChunk(frame, first, row)


class DataFrameCSVSource(DataFrameSource):
    """Reads CSV files into DataFrames, `chunk_rows` rows at a time (pandas.read_csv).

    The saved position counts the data rows done; a restart parses the rows before it again
    (without handing them over) and goes on from there. Declared `dtypes` are given to the
    parser (datetimes are converted after it).
    """

    ConfigModel = DataFrameCSVSourceConfig
    Config: DataFrameCSVSourceConfig

    def chunks(
        self, claim: FileClaim, opener: Opener, offset: int, line: int
    ) -> Iterator[FrameChunk]:
        c = self.Config
        parsed = {
            column: dtype
            for column, dtype in c.dtypes.items()
            if not pd.api.types.is_datetime64_any_dtype(pd.api.types.pandas_dtype(dtype))
        }
        options: dict[str, Any] = {
            "sep": c.delimiter,
            "quotechar": c.quotechar,
            "header": 0 if c.header else None,
            "names": list(c.names) or None,
            "na_values": list(c.na_values) or None,
            "keep_default_na": c.keep_default_na,
            "encoding": c.encoding or "utf-8",
            "encoding_errors": c.encoding_errors,
            "dtype": parsed or None,
            "chunksize": self.chunk_size(),
        }
        if c.columns:
            wanted = set(c.columns)
            options["usecols"] = lambda column: column in wanted
        with opener(0) as stream, pd.read_csv(stream, **options) as reader:
            yield from skip_to(reader, offset)
