"""The vectorised function of summary.yaml: requests → one row per minute, no loop per row."""

from __future__ import annotations

import pandas as pd


def per_minute(frame: pd.DataFrame) -> pd.DataFrame:
    """Requests, bytes, server errors and distinct countries per minute of log time."""
    minute = frame["time"].dt.floor("min").rename("minute")
    grouped = frame.assign(error=frame["status"] >= 500).groupby(minute, observed=True)
    return grouped.agg(
        requests=("status", "size"),
        bytes=("bytes", "sum"),
        errors=("error", "sum"),
        countries=("country", "nunique"),
    ).reset_index()
