"""SessionAnalyzer: an Analyzer over a SessionMatrix (a row per session, named columns)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.analyzer.analyzer import Analyzer
from pump.analyzer.matrix import SessionMatrix

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

_MATRIX = "sessions"


class SessionAnalyzer(Analyzer):
    """Analyzer of sessions: `evaluate` adds and updates rows of `self.Sessions`
    (`add_row(id, start_time)`, `Array[column][row]`, `close_row(id, end_time)`, `flush()`).

    Columns come as BSPump gave them: `column_names` and `column_formats`, or `dtype`, a list
    of (name, format) pairs. The matrix is kept in the processor's state.
    """

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        column_formats: list[str] | None = None,
        column_names: list[str] | None = None,
        analyze_on_clock: bool = False,
        matrix_id: str | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        dtype: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(app, pipeline, analyze_on_clock=analyze_on_clock, id=id, config=config)
        if dtype is not None:
            column_names = [name for name, _ in dtype]
            column_formats = [fmt for _, fmt in dtype]
        self.Sessions = SessionMatrix(
            list(column_names or []), column_formats, id=matrix_id or f"{self.Id}Matrix"
        )

    @property
    def Matrix(self) -> Any:
        """The matrix's array (BSPump's alias)."""
        return self.Sessions.Array

    def changed(self) -> None:
        part = self.state.partition_named("")
        part.data[_MATRIX] = self.Sessions
        part.changed.add(_MATRIX)

    def restore(self) -> None:
        kept = self.state.partition_named("").data.get(_MATRIX)
        if isinstance(kept, SessionMatrix):
            self.Sessions = kept
