"""BSPump's matrices for the analyzers: rows by name, a dense array (numpy when installed).

`TimeWindowMatrix` has a row per key and a column per `resolution` seconds (tumbling windows
of event or clock time), oldest first; `SessionMatrix` has a row per session with named
columns. `Array` is a numpy array when numpy is installed (as in BSPump), else `ListArray`,
nested lists indexed the same way (`Array[row, column]`, `Array[row, column, k]`).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from typing import Any

try:  # numpy is optional: the analyzers use it only when it is installed
    import numpy
except ImportError:  # pragma: no cover - depends on the environment
    numpy = None  # type: ignore[assignment]

HAS_NUMPY = numpy is not None


class ListArray:
    """A rows × columns × depth array of floats in nested lists (numpy's indexing, a subset)."""

    def __init__(self, rows: int, columns: int, depth: int) -> None:
        self.columns = columns
        self.depth = depth
        self.rows: list[list[list[float]]] = [self._row() for _ in range(rows)]

    def _row(self) -> list[list[float]]:
        return [[0.0] * self.depth for _ in range(self.columns)]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(rows, columns, depth)."""
        return (len(self.rows), self.columns, self.depth)

    def _cell(self, index: tuple[int, ...]) -> tuple[list[float], int]:
        row, column, *rest = index
        return self.rows[row][column], (rest[0] if rest else 0)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int):
            return self.rows[index]
        cell, k = self._cell(index)
        return cell[k]

    def __setitem__(self, index: tuple[int, ...], value: float) -> None:
        cell, k = self._cell(index)
        cell[k] = value

    def append_row(self) -> None:
        """A new row of zeros."""
        self.rows.append(self._row())

    def shift(self) -> None:
        """Drop the oldest column of every row, add an empty newest one."""
        for row in self.rows:
            del row[0]
            row.append([0.0] * self.depth)

    def keep(self, indexes: list[int]) -> None:
        """Keep only these rows, in this order."""
        self.rows = [self.rows[i] for i in indexes]

    def tolist(self) -> list[list[list[float]]]:
        """The values as nested lists."""
        return [[list(cell) for cell in row] for row in self.rows]


class Matrix:
    """Rows by name over a dense array; closed rows are removed by `flush()`."""

    def __init__(self, id: str | None = None) -> None:
        self.Id = id or type(self).__name__
        #: Row name → index, and back.
        self.N2IMap: dict[Hashable, int] = {}
        self.I2NMap: dict[int, Hashable] = {}
        #: Indexes of rows closed since the last `flush()`.
        self.ClosedRows: set[int] = set()

    def get_row_index(self, row_name: Hashable) -> int | None:
        """The row index of `row_name`, None if it has no row."""
        return self.N2IMap.get(row_name)

    def get_row_name(self, row_index: int) -> Hashable | None:
        """The name of the row at `row_index`."""
        return self.I2NMap.get(row_index)

    def add_row(self, row_name: Hashable) -> int:
        """Add a row called `row_name` (or return its index if it has one)."""
        index = self.N2IMap.get(row_name)
        if index is not None:
            return index
        index = len(self.N2IMap)
        self.N2IMap[row_name] = index
        self.I2NMap[index] = row_name
        self._append_row()
        return index

    def close_row(self, row_name: Hashable) -> None:
        """Mark a row for removal at the next `flush()`."""
        index = self.N2IMap.get(row_name)
        if index is not None:
            self.ClosedRows.add(index)

    def flush(self) -> None:
        """Remove the closed rows (indexes of the other rows change)."""
        if not self.ClosedRows:
            return
        kept = [i for i in range(len(self.N2IMap)) if i not in self.ClosedRows]
        names = [self.I2NMap[i] for i in kept]
        self._keep_rows(kept)
        self.N2IMap = {name: i for i, name in enumerate(names)}
        self.I2NMap = dict(enumerate(names))
        self.ClosedRows = set()

    def rows(self) -> Iterator[tuple[Hashable, int]]:
        """(name, index) of every row."""
        return iter(self.N2IMap.items())

    def _append_row(self) -> None:
        raise NotImplementedError

    def _keep_rows(self, indexes: list[int]) -> None:
        raise NotImplementedError


class TimeWindowMatrix(Matrix):
    """Rows by key, `columns` columns of `resolution` seconds each, oldest first.

    `End` is the start of the oldest column, `Start` the end of the newest (BSPump's names);
    `get_column(t)` is the column of time t, None outside [End, Start); `add_column()` moves
    the window one column on, dropping the oldest.
    """

    def __init__(
        self,
        columns: int = 15,
        resolution: float = 60,
        depth: int = 1,
        start_time: float | None = None,
        id: str | None = None,
        use_numpy: bool | None = None,
    ) -> None:
        super().__init__(id)
        self.Columns = columns
        self.Resolution = resolution
        self.Dimensions = (columns, depth)
        self.UsesNumpy = HAS_NUMPY if use_numpy is None else use_numpy and HAS_NUMPY
        if start_time is None:
            start_time = time.time()
        #: The end of the newest column (exclusive).
        self.Start = (1 + start_time // resolution) * resolution
        #: The start of the oldest column.
        self.End = self.Start - resolution * columns
        #: Per row, columns still to pass before the row spans the whole window.
        self.WarmingUpCount: list[int] = []
        self.Array: Any = self._empty(0)
        #: Events before the window / after it, as `get_column` saw them.
        self.late = 0
        self.early = 0

    def _empty(self, rows: int) -> Any:
        if self.UsesNumpy:
            return numpy.zeros((rows, self.Columns, self.Dimensions[1]))
        return ListArray(rows, self.Columns, self.Dimensions[1])

    def _append_row(self) -> None:
        if self.UsesNumpy:
            self.Array = numpy.concatenate((self.Array, self._empty(1)))
        else:
            self.Array.append_row()
        self.WarmingUpCount.append(self.Columns)

    def _keep_rows(self, indexes: list[int]) -> None:
        if self.UsesNumpy:
            self.Array = self.Array[indexes]
        else:
            self.Array.keep(indexes)
        self.WarmingUpCount = [self.WarmingUpCount[i] for i in indexes]

    def get_column(self, timestamp: float) -> int | None:
        """The column holding `timestamp` (seconds), None if it is outside the window."""
        if timestamp < self.End:
            self.late += 1
            return None
        if timestamp >= self.Start:
            self.early += 1
            return None
        return int((timestamp - self.End) // self.Resolution)

    def add_column(self) -> None:
        """Move one column on: the oldest is dropped, an empty newest one added."""
        self.Start += self.Resolution
        self.End += self.Resolution
        if self.UsesNumpy:
            self.Array = numpy.roll(self.Array, -1, axis=1)
            self.Array[:, -1, :] = 0
        else:
            self.Array.shift()
        self.WarmingUpCount = [max(0, n - 1) for n in self.WarmingUpCount]

    def advance(self, target: float) -> int:
        """Add columns until `target` (seconds) is inside the window; how many were added."""
        added = 0
        while target >= self.Start:
            if target - self.Start >= self.Resolution * self.Columns:
                # far ahead: start over empty rather than shifting column by column
                skip = int((target - self.Start) // self.Resolution) + 1 - self.Columns
                self.Start += skip * self.Resolution
                self.End += skip * self.Resolution
                added += skip
            self.add_column()
            added += 1
        return added


class SessionMatrix(Matrix):
    """Rows by session id with named columns (`column_names`), plus `@timestamp_start`/`_end`.

    `Array[column_name][row]` reads a value (numpy's structured array when installed, else a
    dict of lists).
    """

    def __init__(
        self,
        column_names: list[str],
        column_formats: list[str] | None = None,
        id: str | None = None,
        use_numpy: bool | None = None,
    ) -> None:
        super().__init__(id)
        self.ColumnNames = [*column_names, "@timestamp_start", "@timestamp_end"]
        formats = list(column_formats or ["f8"] * len(column_names))
        if len(formats) != len(column_names):
            raise ValueError("column_formats and column_names must have the same length")
        self.ColumnFormats = [*formats, "f8", "f8"]
        self.UsesNumpy = HAS_NUMPY if use_numpy is None else use_numpy and HAS_NUMPY
        self.Array: Any = self._empty(0)

    def _empty(self, rows: int) -> Any:
        if self.UsesNumpy:
            dtype = {"names": self.ColumnNames, "formats": self.ColumnFormats}
            return numpy.zeros(rows, dtype=dtype)
        return {name: [0.0] * rows for name in self.ColumnNames}

    def _append_row(self) -> None:
        if self.UsesNumpy:
            self.Array = numpy.concatenate((self.Array, self._empty(1)))
        else:
            for column in self.Array.values():
                column.append(0.0)

    def _keep_rows(self, indexes: list[int]) -> None:
        if self.UsesNumpy:
            self.Array = self.Array[indexes]
        else:
            self.Array = {n: [c[i] for i in indexes] for n, c in self.Array.items()}

    def add_row(self, row_name: Hashable, start_time: float | None = None) -> int:
        """Add a session row; `@timestamp_start` is `start_time` (default: now)."""
        index = super().add_row(row_name)
        self.Array["@timestamp_start"][index] = time.time() if start_time is None else start_time
        return index

    def close_row(self, row_name: Hashable, end_time: float | None = None) -> None:
        """Close a session row; `@timestamp_end` is `end_time` (default: now)."""
        index = self.N2IMap.get(row_name)
        if index is not None:
            self.Array["@timestamp_end"][index] = time.time() if end_time is None else end_time
            self.ClosedRows.add(index)
