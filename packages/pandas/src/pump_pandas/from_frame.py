"""FromDataFrame: a frame back into events, one dict per row, for sinks that take events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.config import ComponentConfig
from pump.processor import Processor
from pump_pandas.frames import expect_frame, frame_rows

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

    _Pipeline = Pipeline


class FromDataFrameConfig(ComponentConfig):
    """Settings of a FromDataFrame."""

    row_key: str = Field(
        "frame_row",
        description="Context key of a row's position in its frame ('': none)",
    )


class FromDataFrame(Processor):
    """Turns each DataFrame event into one event per row (a dict of Python values, None for
    nulls), sent on at once as one batch. The frame is done when every row event is done."""

    Pipeline: _Pipeline
    # the frame is not dropped: it goes on as its rows (counted as aggregated, not dropped)
    consumes_events = True

    ConfigModel = FromDataFrameConfig
    Config: FromDataFrameConfig

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._where = self.location()

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Send the frame's rows on from the next processor; the frame waits for them."""
        rows = frame_rows(expect_frame(event, self._where))
        if not rows:
            return None  # an empty frame: nothing to send, done now
        key = self.Config.row_key
        base = dict(context) if context else {}
        if key:
            contexts = [{**base, key: i} for i in range(len(rows))]
        else:
            contexts = [dict(base) for _ in rows]
        pipeline = self.Pipeline
        batch = pipeline.current_batch
        parents = [batch.hold()] if batch is not None else []
        depth = pipeline.Processors.index(self) + 1
        try:
            pipeline.inject_batch(rows, contexts, depth, parents=parents)
        except BaseException:
            for parent in parents:  # the rows never got on their way: the frame is not done
                parent.fail()
                parent.done()
            raise
        return None
