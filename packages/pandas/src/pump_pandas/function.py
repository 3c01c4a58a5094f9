"""DataFrameProcessor: a user function over a whole frame at once (vectorised), df -> df | None."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import Field

from pump.common.callables import as_event_function, given_or_configured
from pump.config import ComponentConfig
from pump.processor import Processor
from pump_pandas.frames import expect_frame

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class DataFrameProcessorConfig(ComponentConfig):
    """Settings of a DataFrameProcessor."""

    function: str = Field(
        "",
        description="'module:function' taking a DataFrame (or context, DataFrame) and "
        "returning a DataFrame, or None to drop the frame (when none is passed)",
        examples=["mypkg.frames:convert"],
    )


class DataFrameProcessor(Processor):
    """Runs `f(frame)` or `f(context, frame)` on every DataFrame event: one call per frame.

    The result is the new frame; None drops the frame (its rows are done). A function that
    raises sends the whole frame to the pipeline's error policy (a dead letter carries its
    rows). Events that are not DataFrames fail with a message saying what to put before.
    """

    ConfigModel = DataFrameProcessorConfig
    Config: DataFrameProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        function: Callable[..., Any] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        function = given_or_configured(function, self.Config.function, self.location())
        self.Function = function
        self._call = as_event_function(function, self.location())
        self._where = self.location()

    def process(self, context: dict[str, Any], event: Any) -> pd.DataFrame | None:
        """The function's frame for this frame (None: dropped)."""
        frame = expect_frame(event, self._where)
        result = self._call(context, frame)
        if result is None or isinstance(result, pd.DataFrame):
            return result
        raise TypeError(
            f"{self._where}: the function returned {type(result).__name__}; it must return a "
            "DataFrame, or None to drop the frame"
        )
