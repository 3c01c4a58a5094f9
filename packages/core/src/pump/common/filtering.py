"""Keeping or dropping events by a predicate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.common.callables import as_event_function, import_callable, takes_context
from pump.config import ComponentConfig
from pump.errors import BuildError
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class FilterProcessorConfig(ComponentConfig):
    """Settings of a FilterProcessor."""

    predicate: str = Field("", description="'module:function' deciding (when none is passed)")
    inclusive: bool = Field(
        True, description="true: keep events the predicate accepts; false: drop them"
    )


class FilterProcessor(Processor):
    """Keeps the events a predicate accepts and drops (acknowledges) the others.

    The predicate is a callable `p(event)` or `p(context, event)` passed in, or the
    method `test(context, event)` of a subclass. With `inclusive: false` the meaning is
    reversed: the events the predicate accepts are the ones dropped.
    """

    ConfigModel = FilterProcessorConfig
    Config: FilterProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        predicate: Callable[..., Any] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Inclusive: bool = self.Config["inclusive"]
        path: str = self.Config["predicate"]
        if predicate is None and path:
            predicate = import_callable(path, self.location())
        if predicate is not None:
            test = as_event_function(predicate, self.location())
        elif type(self).test is not FilterProcessor.test:
            test = self.test
        else:
            raise BuildError(
                f"{self.location()}: pass a predicate (or config 'predicate') or override test()"
            )
        self._test = test
        if type(self).process is FilterProcessor.process:
            # A closure per setting keeps the per-event path to one call and one branch; a
            # predicate of the event alone is called directly, not through an adapter.
            keep: Callable[[dict[str, Any], Any], Any]
            if predicate is not None and not takes_context(predicate, self.location()):
                of_event = predicate
                self.inline = ("keep" if self.Inclusive else "drop", of_event)
                if self.Inclusive:

                    def keep(context: dict[str, Any], event: Any) -> Any:
                        return event if of_event(event) else None

                else:

                    def keep(context: dict[str, Any], event: Any) -> Any:
                        return None if of_event(event) else event

            elif self.Inclusive:

                def keep(context: dict[str, Any], event: Any) -> Any:
                    return event if test(context, event) else None

            else:

                def keep(context: dict[str, Any], event: Any) -> Any:
                    return None if test(context, event) else event

            self.process = keep  # type: ignore[method-assign]

    def test(self, context: dict[str, Any], event: Any) -> bool:
        """True when the predicate accepts the event."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Return the event if it is kept, None if it is dropped."""
        accepted = self._test(context, event)
        return event if bool(accepted) == self.Inclusive else None
