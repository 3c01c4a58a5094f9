"""DataFrameExcelSource: Excel workbooks (.xlsx) read one sheet into DataFrames of chunk_rows."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
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

    A workbook is a zip archive that cannot be read in pieces: the sheet is read whole, then
    handed over `chunk_rows` rows at a time; the saved position counts rows.
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
        c = self.Config
        with opener(0) as stream:
            sheet = pd.read_excel(
                stream, sheet_name=c.sheet, header=0 if c.header else None, engine="openpyxl"
            )
        size = self.chunk_size()
        pieces = (sheet.iloc[i : i + size] for i in range(0, len(sheet), size))
        yield from skip_to(pieces, offset)
