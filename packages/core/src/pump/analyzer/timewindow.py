"""TimeWindowAnalyzer: an Analyzer over a TimeWindowMatrix (a row per key, a column per
`resolution` seconds), moved on by the clock or by event time, kept in state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.analyzer.analyzer import Analyzer
from pump.analyzer.matrix import TimeWindowMatrix

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

_MATRIX = "matrix"


class TimeWindowAnalyzer(Analyzer):
    """Analyzer of events with a time: `evaluate` writes into `self.TimeWindow.Array`
    (`get_row_index`/`add_row` for the row, `get_column(timestamp)` for the column).

    With `clock_driven` (the default) the window moves on with the clock, a column every
    `resolution` seconds; otherwise call `advance(timestamp)` (event time) from `evaluate`.
    The matrix is kept in the processor's state: checkpointed, and back after a restart.
    """

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        matrix_id: str | None = None,
        dtype: str = "float_",
        columns: int = 15,
        analyze_on_clock: bool = False,
        resolution: float = 60,
        start_time: float | None = None,
        clock_driven: bool = True,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        tw_dimensions: tuple[int, int] | None = None,
        tw_format: str | None = None,
    ) -> None:
        super().__init__(app, pipeline, analyze_on_clock=analyze_on_clock, id=id, config=config)
        depth = 1
        if tw_dimensions is not None:  # BSPump's older (columns, depth)
            columns, depth = tw_dimensions
        self.TimeWindow = TimeWindowMatrix(
            columns, resolution, depth, start_time, id=matrix_id or f"{self.Id}Matrix"
        )
        self.Resolution = resolution
        self.ClockDriven = clock_driven
        self._ticker: asyncio.TimerHandle | None = None

    @property
    def Matrix(self) -> Any:
        """The matrix's array (BSPump's alias)."""
        return self.TimeWindow.Array

    def advance(self, target_ts: float) -> None:
        """Move the window on so that it covers `target_ts` (seconds)."""
        if self.TimeWindow.advance(target_ts):
            self.changed()

    def changed(self) -> None:
        part = self.state.partition_named("")
        part.data[_MATRIX] = self.TimeWindow
        part.changed.add(_MATRIX)

    def restore(self) -> None:
        kept = self.state.partition_named("").data.get(_MATRIX)
        if isinstance(kept, TimeWindowMatrix):
            self.TimeWindow = kept

    async def start(self) -> None:
        """Restore the matrix; move it on with the clock (a quarter of a column at a time)."""
        await super().start()
        if self.ClockDriven:
            self._tick()

    def _tick(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(self.Resolution / 4, self._tick)
        self.advance(time.time())

    async def stop(self) -> None:
        """Stop the clock."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await super().stop()
