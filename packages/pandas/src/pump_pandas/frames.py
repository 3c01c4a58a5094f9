"""DataFrames as events: built from rows with declared or inferred dtypes, turned back into rows.

Rows go in and out through Arrow where it can (faster than pandas' own record paths, and nulls
come back as None rather than NaN or pd.NA, so JSON sinks write them as null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from pydantic import Field, field_validator

from pump import deadletter
from pump.config import ComponentConfig
from pump_pandas.arrow import table_of

DtypeBackend = Literal["default", "numpy_nullable", "pyarrow"]

#: `event_encoding` of a frame's dead letter: the event is the list of its rows.
DEAD_LETTER_ENCODING = "dataframe"


class FrameConfig(ComponentConfig):
    """How rows become a DataFrame: the settings every component that builds frames has."""

    columns: list[str] = Field(
        [],
        description="Only these columns, in this order (a row lacking one gets null); "
        "none: every key or column found",
    )
    dtypes: dict[str, str] = Field(
        {},
        description="Column → pandas dtype (int64, float64, string[pyarrow], category, "
        "datetime64[ns, UTC], ...); the other columns are inferred",
        examples=[{"amount": "float64", "time": "datetime64[ns, UTC]"}],
    )
    dtype_backend: DtypeBackend = Field(
        "default",
        description="default (pandas' inference: NumPy numbers; Arrow strings on pandas 3), "
        "numpy_nullable (Int64, boolean, string: nulls without NaN), pyarrow (every column "
        "Arrow-backed)",
    )

    @field_validator("dtypes")
    @classmethod
    def _known_dtypes(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for column, dtype in value.items():
            try:
                pd.api.types.pandas_dtype(dtype)
            except (TypeError, ValueError) as exc:
                problems.append(f"column '{column}': '{dtype}' is not a pandas dtype ({exc})")
        if problems:
            raise ValueError("; ".join(problems))
        return value


class FrameBuilder:
    """Builds DataFrames from rows (dict events) and gives declared dtypes to frames read."""

    def __init__(self, config: FrameConfig) -> None:
        self.columns = list(config.columns) or None
        self.dtypes = dict(config.dtypes)
        self.backend = config.dtype_backend

    def from_rows(self, rows: Sequence[Any]) -> pd.DataFrame:
        """A frame of dict events, one row each; raises naming what is wrong."""
        if not all(type(row) is dict for row in rows):
            for i, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise TypeError(
                        f"row {i}: a DataFrame row is made from a dict event, "
                        f"not {type(row).__name__}"
                    )
        frame = pd.DataFrame(list(rows), columns=self.columns)
        return self.typed(frame)

    def typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with its columns selected, the backend's dtypes and the declared ones."""
        if self.columns is not None and list(frame.columns) != self.columns:
            frame = frame.reindex(columns=self.columns)
        if self.backend != "default":
            frame = frame.convert_dtypes(dtype_backend=self.backend)
        return self.declared(frame)

    def declared(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with the declared dtypes (a ValueError names the column that refuses)."""
        if not self.dtypes:
            return frame
        wanted = {c: t for c, t in self.dtypes.items() if c in frame.columns}
        try:
            return frame.astype(wanted)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{_failed_column(frame, wanted)}{exc}") from None


def _failed_column(frame: pd.DataFrame, wanted: dict[str, str]) -> str:
    """'column 'x' as int64: ' for the first declared dtype that fails (for the message)."""
    for column, dtype in wanted.items():
        try:
            frame[column].astype(dtype)
        except (TypeError, ValueError):
            return f"column '{column}' as {dtype}: "
    return ""


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame as dicts of Python values (None for nulls)."""
    try:
        table = table_of(frame)
    except (pa.ArrowException, TypeError, ValueError):
        # mixed objects Arrow cannot type: pandas' own path, nulls made None
        return [
            {k: (None if _is_null(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]
    return _microseconds(table).to_pylist()  # type: ignore[no-any-return]


def _microseconds(table: pa.Table) -> pa.Table:
    """Nanosecond times as microseconds: rows get datetime/timedelta, not pandas' subclasses
    (which JSON encoders refuse); Python's own types hold no nanoseconds."""
    for i, field in enumerate(table.schema):
        kind = field.type
        if (pa.types.is_timestamp(kind) or pa.types.is_duration(kind)) and kind.unit == "ns":
            unit = pa.timestamp("us", kind.tz) if pa.types.is_timestamp(kind) else pa.duration("us")
            column = table.column(i).cast(unit, safe=False)
            table = table.set_column(i, field.with_type(unit), column)
    return table


def _is_null(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False  # a list or array in a cell


def frame_from_dead_letter(rows: Any) -> pd.DataFrame:
    """The frame of a dead-letter record (its rows, as `original_event` gives them back)."""
    return pd.DataFrame(rows if isinstance(rows, list) else [])


def register_dead_letters() -> None:
    """Dead letters of a DataFrame carry its rows (`event_encoding: "dataframe"`)."""
    deadletter.register_event_type(
        pd.DataFrame, DEAD_LETTER_ENCODING, frame_rows, frame_from_dead_letter
    )


def expect_frame(event: Any, where: str) -> pd.DataFrame:
    """The event, if it is a DataFrame; else a TypeError saying what to put before."""
    if isinstance(event, pd.DataFrame):
        return event
    raise TypeError(
        f"{where}: expects DataFrame events, got {type(event).__name__} "
        "(collect events into frames with pandas.to_frame, or read them with a pandas source)"
    )
