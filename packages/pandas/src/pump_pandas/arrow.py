"""Frames of rows into Arrow tables: a row whose value does not fit its column fails alone.

A frame built from dict events has an `object` column wherever the events disagree on a
value's type (a number here, a string there); Arrow refuses such a column as a whole. Rather
than failing every row, the column's type is the one most of its values fit, and only the rows
whose value does not fit it (or that Arrow cannot store at all) are left out, each with its
own error.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

#: What Arrow raises for a value it cannot store.
ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def rows_table(frame: pd.DataFrame) -> tuple[pa.Table | None, dict[int, Exception]]:
    """The frame as an Arrow table, and the rows left out of it: position → error.

    The table is None when no row is left. Positions count the frame's rows from 0.
    """
    try:
        return pa.Table.from_pandas(frame, preserve_index=False), {}
    except ARROW_ERRORS as exc:
        whole: Exception = exc
    bad: dict[int, Exception] = {}
    for name in frame.columns:
        column = frame[name]
        try:
            pa.array(column, from_pandas=True)
        except ARROW_ERRORS:
            for position, error in _misfits(str(name), column.tolist()).items():
                bad.setdefault(position, error)
    if not bad:  # no single column refused: the frame as a whole did (e.g. its column names)
        return None, dict.fromkeys(range(len(frame)), whole)
    keep = [i for i in range(len(frame)) if i not in bad]
    if not keep:
        return None, bad
    try:
        return pa.Table.from_pandas(frame.iloc[keep], preserve_index=False), bad
    except ARROW_ERRORS as exc:
        return None, {**dict.fromkeys(keep, exc), **bad}


def _misfits(name: str, values: list[Any]) -> dict[int, Exception]:
    """The positions of the values that do not fit the column's type, with their errors."""
    bad: dict[int, Exception] = {}
    kinds: list[pa.DataType | None] = []
    for i, value in enumerate(values):
        try:
            kinds.append(pa.array([value], from_pandas=True).type)
        except ARROW_ERRORS as exc:
            kinds.append(None)
            bad[i] = ValueError(f"column '{name}': {_shown(value)} cannot be stored: {exc}")
    candidates = [k for k in dict.fromkeys(kinds) if k is not None and k != pa.null()]
    if not candidates:
        return bad
    # the type most values fit; on a tie, the one seen first
    chosen = max(candidates, key=lambda t: sum(_fits(k, t) for k in kinds if k is not None))
    for i, kind in enumerate(kinds):
        if kind is not None and not _fits(kind, chosen):
            bad[i] = ValueError(
                f"column '{name}': {_shown(values[i])} ({kind}) does not fit the column's type "
                f"{chosen}, which most of the rows' values have"
            )
    return bad


def _fits(kind: pa.DataType, column: pa.DataType) -> bool:
    """True when a value of type `kind` goes into a column of type `column` as it is."""
    if kind == column or kind == pa.null():
        return True
    return bool(pa.types.is_integer(kind) and pa.types.is_floating(column))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
