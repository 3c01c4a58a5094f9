"""Per-key, per-value and per-item work on dict events: transform them, or emit one event each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.common.callables import import_callable
from pump.config import ComponentConfig
from pump.errors import BuildError
from pump.processor import Generator, Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class MappingFunctionConfig(ComponentConfig):
    """Settings of the mapping processors."""

    function: str = Field(
        "", description="'module:function' applied to each key/value/item (instead of a subclass)"
    )


class _MappingProcessor(Processor):
    """Base: resolves the per-part function from the constructor, the config or an override."""

    ConfigModel = MappingFunctionConfig
    _method = ""  # the overridable method, e.g. "process_key"

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        function: Callable[..., Any] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        path: str = self.Config["function"]
        if function is None and path:
            function = import_callable(path, self.location())
        if function is None:
            if not self._overridden():
                raise BuildError(
                    f"{self.location()}: pass a function (or config 'function') or override "
                    f"{self._method}(); to turn a dict into a list of its parts use a "
                    f"{type(self).__name__.replace('Processor', 'Generator')} or a FunctionProcessor"
                )
            function = getattr(self, self._method)
        self._function: Callable[..., Any] = function

    def _overridden(self) -> bool:
        raise NotImplementedError

    def _not_a_mapping(self, event: Any) -> TypeError:
        return TypeError(f"{self.location()}: expected a dict, got {type(event).__name__}")


class MappingKeysProcessor(_MappingProcessor):
    """Maps every key of a dict event: `{process_key(k): v}` (pass `function` or override)."""

    _method = "process_key"

    def _overridden(self) -> bool:
        return type(self).process_key is not MappingKeysProcessor.process_key

    def process_key(self, key: Any) -> Any:
        """The new key for `key`."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return a new dict with mapped keys."""
        if not isinstance(event, Mapping):
            raise self._not_a_mapping(event)
        function = self._function
        return {function(k): v for k, v in event.items()}


class MappingValuesProcessor(_MappingProcessor):
    """Maps every value of a dict event: `{k: process_value(v)}` (pass `function` or override)."""

    _method = "process_value"

    def _overridden(self) -> bool:
        return type(self).process_value is not MappingValuesProcessor.process_value

    def process_value(self, value: Any) -> Any:
        """The new value for `value`."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return a new dict with mapped values."""
        if not isinstance(event, Mapping):
            raise self._not_a_mapping(event)
        function = self._function
        return {k: function(v) for k, v in event.items()}


class MappingItemsProcessor(_MappingProcessor):
    """Maps every item of a dict event: `process_item(k, v)` returns a `(key, value)` or None."""

    _method = "process_item"

    def _overridden(self) -> bool:
        return type(self).process_item is not MappingItemsProcessor.process_item

    def process_item(self, key: Any, value: Any) -> tuple[Any, Any] | None:
        """The new `(key, value)` for an item, or None to leave the item out."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return a new dict of the mapped items."""
        if not isinstance(event, Mapping):
            raise self._not_a_mapping(event)
        function = self._function
        out: dict[Any, Any] = {}
        for k, v in event.items():
            item = function(k, v)
            if item is not None:
                out[item[0]] = item[1]
        return out


class _MappingGenerator(Generator):
    """Base: emits one event per part of a dict event, each with its own context if needed."""

    Pipeline: Pipeline
    _copy_context = False

    async def start(self) -> None:
        """Note whether a later processor writes its context (children then need copies)."""
        processors = self.Pipeline.Processors
        later = processors[processors.index(self) + 1 :] if self in processors else processors
        self._copy_context = any(isinstance(p, Processor) and p.writes_context for p in later)

    def _parts(self, event: Mapping[Any, Any]) -> Any:
        raise NotImplementedError

    async def generate(self, context: dict[str, Any], event: Any, depth: int) -> None:
        """Inject one child event per part."""
        if not isinstance(event, Mapping):
            raise TypeError(f"{self.location()}: expected a dict, got {type(event).__name__}")
        inject = self.Pipeline.inject
        if self._copy_context:
            for part in self._parts(event):
                inject(dict(context), part, depth)
        else:
            for part in self._parts(event):
                inject(context, part, depth)


class MappingKeysGenerator(_MappingGenerator):
    """Emits each key of a dict event as an event."""

    def _parts(self, event: Mapping[Any, Any]) -> Any:
        return event.keys()


class MappingValuesGenerator(_MappingGenerator):
    """Emits each value of a dict event as an event."""

    def _parts(self, event: Mapping[Any, Any]) -> Any:
        return event.values()


class MappingItemsGenerator(_MappingGenerator):
    """Emits each `(key, value)` item of a dict event as an event."""

    def _parts(self, event: Mapping[Any, Any]) -> Any:
        return event.items()
