"""ToDataFrame: collects dict events into a DataFrame, emitted as one event when complete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import Field

from pump.common.aggregation import AggregationStrategy
from pump.common.aggregator import Aggregator, CompletionConfig
from pump_pandas.frames import FrameBuilder, FrameConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class ToDataFrameConfig(CompletionConfig, FrameConfig):
    """Settings of a ToDataFrame: when a frame is complete, and its columns and dtypes."""

    completion_size: int = Field(
        8192, gt=0, description="Emit the frame when it holds this many rows"
    )


class DataFrameAggregationStrategy(AggregationStrategy):
    """The aggregate is a DataFrame: each run of rows is made a frame as it comes (so a row
    that cannot be one fails alone, while it is held), and the runs are joined at the end."""

    def __init__(self, builder: FrameBuilder) -> None:
        self.builder = builder
        self.parts: list[pd.DataFrame] = []
        #: A frame of the next run, already built (by `ToDataFrame.process_batch`).
        self.prepared: pd.DataFrame | None = None

    def append(self, context: dict[str, Any], event: Any) -> None:
        """Add one row."""
        self.parts.append(self.builder.from_rows([event]))

    def extend(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> None:
        """Add a run of rows (the prepared frame of them, when there is one)."""
        prepared, self.prepared = self.prepared, None
        self.parts.append(prepared if prepared is not None else self.builder.from_rows(events))

    def flush(self) -> pd.DataFrame:
        """The frame of every row added since the last flush."""
        parts, self.parts = self.parts, []
        if not parts:
            return self.builder.from_rows([])
        if len(parts) == 1:
            return parts[0].reset_index(drop=True)
        # declared dtypes again: categories of the parts differ, and concat makes them objects
        return self.builder.declared(pd.concat(parts, ignore_index=True))

    def is_empty(self) -> bool:
        """True when no row was added since the last flush."""
        return not self.parts


class ToDataFrame(Aggregator):
    """Collects events (dicts, one row each) into a DataFrame and emits it as one event.

    The frame is complete by size (`completion_size` rows), by time or at an interval — the
    core Aggregator's completion rules, and like it, the batches the rows came from stay held
    until the frame is done (written, dead-lettered, or exploded back into events that are
    done). Rows are made into frames a batch at a time, vectorised; a batch with a row that
    cannot be one (not a dict, a value the declared dtype refuses) is taken row by row, and
    only the failing rows go to the pipeline's error policy.
    """

    ConfigModel = ToDataFrameConfig  # type: ignore[assignment]  # completion + frame settings
    Config: ToDataFrameConfig  # type: ignore[assignment]  # the frame settings, not the strategy

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id=id, config=config)
        self.Strategy: DataFrameAggregationStrategy = self.AggregationStrategy  # type: ignore[assignment]
        self.Builder = self.Strategy.builder

    def configured_strategy(self) -> AggregationStrategy:
        """A DataFrame strategy with this component's columns and dtypes."""
        return DataFrameAggregationStrategy(FrameBuilder(self.Config))

    def process_batch(self, contexts: Sequence[dict[str, Any]], events: list[Any]) -> list[Any]:
        """Make the batch's rows one frame, then hold it a run at a time (emitting full frames)."""
        # built before anything is held: if it raises, the batch is rerun row by row
        frame = self.Builder.from_rows(events)
        start, n = 0, len(events)
        while start < n:
            end = min(n, start + max(1, self.CompletionSize - self.CurrentSize))
            self.Strategy.prepared = frame if start == 0 and end == n else frame.iloc[start:end]
            self.hold(contexts[start:end], events[start:end])
            start = end
        return [None] * n
