"""DataFrameExcelSource: a sheet of Excel workbooks (.xlsx), streamed into frames of chunk_rows."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import Field

from pump.errors import ConfigError
from pump_file.claims import FileClaim
from pump_file.source import Opener
from pump_pandas.csv_source import skip_to
from pump_pandas.source import DataFrameSource, DataFrameSourceConfig, FrameChunk

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class DataFrameExcelSourceConfig(DataFrameSourceConfig):
    """Settings of the Excel DataFrame source."""

    sheet: str | int = Field(0, description="The sheet read: its name, or its index (0: first)")
    header: bool = Field(True, description="The first row of the sheet names the columns")


class DataFrameExcelSource(DataFrameSource):
    """Reads a sheet of Excel workbooks into DataFrames (needs `pip install pump-pandas[excel]`).

    The sheet is streamed (openpyxl's read-only mode), `chunk_rows` rows at a time, so memory
    holds about one chunk whatever the sheet's size. Cells are read as `pandas.read_excel`
    reads them (cached formula results; an error cell is null; a whole number is an int;
    empty rows inside the sheet are rows of nulls, trailing ones are dropped), but each chunk's
    dtypes are inferred from its own rows: declare `dtypes` for the same dtypes in every frame.
    A column right of the header's is named `Unnamed: <index>` from the row that first fills
    it. The saved position counts rows; a restart reads the rows before it again (without
    handing them over).
    """

    ConfigModel = DataFrameExcelSourceConfig
    Config: DataFrameExcelSourceConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        if importlib.util.find_spec("openpyxl") is None:
            raise ConfigError(
                self.location(),
                ["Excel files need openpyxl: pip install 'pump-pandas[excel]'"],
            )

    def chunks(
        self, claim: FileClaim, opener: Opener, offset: int, line: int
    ) -> Iterator[FrameChunk]:
        from openpyxl import load_workbook

        c = self.Config
        with opener(0) as stream:
            book = load_workbook(stream, read_only=True, data_only=True, keep_links=False)
            try:
                if isinstance(c.sheet, str):
                    if c.sheet not in book.sheetnames:
                        raise ValueError(
                            f"{claim.path}: no sheet '{c.sheet}' (it has {book.sheetnames})"
                        )
                    sheet = book[c.sheet]
                elif not -len(book.worksheets) <= c.sheet < len(book.worksheets):
                    raise ValueError(
                        f"{claim.path}: no sheet {c.sheet} (it has {len(book.worksheets)})"
                    )
                else:
                    sheet = book.worksheets[c.sheet]
                # the declared extent can be wrong: let openpyxl find the real one as it reads
                sheet.reset_dimensions()
                frames = sheet_frames(sheet.iter_rows(), c.header, self.chunk_size())
                yield from skip_to(frames, offset)
            finally:
                book.close()


def sheet_frames(rows: Iterable[Any], header: bool, size: int) -> Iterator[pd.DataFrame]:
    """Frames of at most `size` rows from a sheet's rows of cells (the first names the columns
    with `header`)."""
    names: list[Any] = []
    named = not header  # the header row was read (or there is none)
    held: list[list[Any]] = []  # rows read, not yet in a frame
    blank = 0  # empty rows read since the last row with a value (dropped at the end)
    for row in rows:
        values = [_value(cell) for cell in row]
        while values and values[-1] is None:
            values.pop()
        if not named:
            names, named = _column_names(values), True
            continue
        if not values:
            blank += 1
            continue
        held.extend([] for _ in range(blank))
        blank = 0
        held.append(values)
        while len(held) >= size:
            yield _frame(held[:size], names, header)
            del held[:size]
    if held:
        yield _frame(held, names, header)


def _value(cell: Any) -> Any:
    """A cell's value as pandas.read_excel gives it."""
    value = cell.value
    if value is None:
        return None
    kind = getattr(cell, "data_type", None)
    if kind == "e":  # an error (#DIV/0!, #N/A, ...)
        return math.nan
    if kind == "n" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _column_names(values: list[Any]) -> list[Any]:
    """The header row's names as read_excel makes them: a blank is `Unnamed: <index>`, a
    repeated name gets `.1`, `.2`, ..."""
    names: list[Any] = []
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        name = f"Unnamed: {i}" if value is None else str(value)
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def _frame(rows: list[list[Any]], names: list[Any], header: bool) -> pd.DataFrame:
    width = max([len(names), *(len(r) for r in rows)])
    if header:
        names = names + [f"Unnamed: {i}" for i in range(len(names), width)]
    else:
        names = list(range(width))
    padded = [r + [None] * (width - len(r)) for r in rows]
    return pd.DataFrame(padded, columns=names)
