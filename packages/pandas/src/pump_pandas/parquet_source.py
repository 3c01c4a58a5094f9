"""DataFrameParquetSource: Parquet files read in record batches of `chunk_rows` rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from pump_file.claims import FileClaim
from pump_file.source import Opener
from pump_pandas.source import DataFrameSource, DataFrameSourceConfig, FrameChunk


class DataFrameParquetSource(DataFrameSource):
    """Reads Parquet files into DataFrames, `chunk_rows` rows at a time (pyarrow's
    `iter_batches`), so a file far larger than memory is read with about one chunk (per frame
    in flight) in memory. With `columns`, only those columns are read. The saved position
    counts rows; a restart begins at the row group holding it.
    """

    ConfigModel = DataFrameSourceConfig
    Config: DataFrameSourceConfig

    def chunks(
        self, claim: FileClaim, opener: Opener, offset: int, line: int
    ) -> Iterator[FrameChunk]:
        c = self.Config
        mapper: Any = pd.ArrowDtype if c.dtype_backend == "pyarrow" else None
        with opener(0) as stream:
            parquet = pq.ParquetFile(stream)
            meta = parquet.metadata
            start, first_group = 0, 0
            while first_group < meta.num_row_groups:
                rows = meta.row_group(first_group).num_rows
                if start + rows > offset:
                    break
                start += rows
                first_group += 1
            groups = list(range(first_group, meta.num_row_groups))
            if not groups:
                return
            columns = [name for name in c.columns if name in parquet.schema_arrow.names]
            row = start
            batches = parquet.iter_batches(
                batch_size=self.chunk_size(), row_groups=groups, columns=columns or None
            )
            for batch in batches:
                n = batch.num_rows
                if row + n <= offset:
                    row += n
                    continue
                first = row
                if row < offset:
                    batch, first = batch.slice(offset - row), offset
                row += n
                yield FrameChunk(batch.to_pandas(types_mapper=mapper), first, row)
