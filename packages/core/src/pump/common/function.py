"""A plain Python function as a processor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.common.callables import as_event_function, given_or_configured
from pump.config import ComponentConfig
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class FunctionProcessorConfig(ComponentConfig):
    """Settings of a FunctionProcessor."""

    function: str = Field("", description="'module:function' to run (when none is passed)")
    writes_context: bool = Field(
        False, description="The function writes into its context (each event gets its own)"
    )


class FunctionProcessor(Processor):
    """Runs `f(event)` or `f(context, event)` on every event; its result is the new event.

    As with any processor, a result of None drops the event: a function that changes the
    event in place must still return it. Which of the two shapes `f` has is read from its
    signature once, here, not per event.
    """

    ConfigModel = FunctionProcessorConfig
    Config: FunctionProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        function: Callable[..., Any] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        function = given_or_configured(function, self.Config["function"], self.location())
        self.Function = function
        self._call = as_event_function(function, self.location())
        if self.Config["writes_context"]:
            self.writes_context = True  # type: ignore[misc]  # per instance, read by the pipeline
        if type(self).process is FunctionProcessor.process:
            # The pipeline's compiled loop then calls the function itself: no extra frame.
            self.process = self._call  # type: ignore[method-assign,assignment]
            if self._call is not function:  # f(event): not even the adapter's frame
                self.inline = ("map", function)

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Return the function's result for the event."""
        return self._call(context, event)
