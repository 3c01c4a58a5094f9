"""Per-key, per-value and per-item work on dict events.

BSPump's names keep BSPump's meaning: `MappingKeysProcessor` returns the keys of a dict event as
a list (values, items likewise) and `MappingKeysGenerator` emits each key as an event. Changing
every key, value or item with a function is `MapKeysProcessor` / `MapValuesProcessor` /
`MapItemsProcessor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.common.callables import import_callable
from pump.common.splitting import SplitGenerator
from pump.config import ComponentConfig
from pump.errors import BuildError
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class MapFunctionConfig(ComponentConfig):
    """Settings of the Map*Processors."""

    function: str = Field(
        "", description="'module:function' applied to each key/value/item (instead of a subclass)"
    )


class _MapProcessor(Processor):
    """Base: resolves the per-part function from the constructor, the config or an override."""

    ConfigModel = MapFunctionConfig
    _method = ""  # the overridable method, e.g. "process_key"
    _parts_processor = ""  # the processor that returns the parts instead (BSPump's name)

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
                    f"{self._method}(); to turn a dict into the list of its parts use "
                    f"{self._parts_processor}"
                )
            function = getattr(self, self._method)
        self._function: Callable[..., Any] = function

    def _overridden(self) -> bool:
        raise NotImplementedError

    def _not_a_mapping(self, event: Any) -> TypeError:
        return TypeError(f"{self.location()}: expected a dict, got {type(event).__name__}")


class MapKeysProcessor(_MapProcessor):
    """Maps every key of a dict event: `{process_key(k): v}` (pass `function` or override)."""

    _method = "process_key"
    _parts_processor = "MappingKeysProcessor"

    def _overridden(self) -> bool:
        return type(self).process_key is not MapKeysProcessor.process_key

    def process_key(self, key: Any) -> Any:
        """The new key for `key`."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return a new dict with mapped keys."""
        if not isinstance(event, Mapping):
            raise self._not_a_mapping(event)
        function = self._function
        return {function(k): v for k, v in event.items()}


class MapValuesProcessor(_MapProcessor):
    """Maps every value of a dict event: `{k: process_value(v)}` (pass `function` or override)."""

    _method = "process_value"
    _parts_processor = "MappingValuesProcessor"

    def _overridden(self) -> bool:
        return type(self).process_value is not MapValuesProcessor.process_value

    def process_value(self, value: Any) -> Any:
        """The new value for `value`."""
        raise NotImplementedError

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return a new dict with mapped values."""
        if not isinstance(event, Mapping):
            raise self._not_a_mapping(event)
        function = self._function
        return {k: function(v) for k, v in event.items()}


class MapItemsProcessor(_MapProcessor):
    """Maps every item of a dict event: `process_item(k, v)` returns a `(key, value)` or None."""

    _method = "process_item"
    _parts_processor = "MappingItemsProcessor"

    def _overridden(self) -> bool:
        return type(self).process_item is not MapItemsProcessor.process_item

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


class _PartsProcessor(Processor):
    """Base: returns the parts of a dict event as a list (BSPump's Mapping*Processor)."""

    _parts: Callable[[Mapping[Any, Any]], Iterable[Any]]  # e.g. methodcaller("keys")

    def process(self, context: dict[str, Any], event: Any) -> list[Any]:
        """Return the list of parts."""
        if not isinstance(event, Mapping):
            raise TypeError(f"{self.location()}: expected a dict, got {type(event).__name__}")
        return list(self._parts(event))


class MappingKeysProcessor(_PartsProcessor):
    """Returns the keys of a dict event as a list (BSPump's meaning)."""

    _parts = methodcaller("keys")


class MappingValuesProcessor(_PartsProcessor):
    """Returns the values of a dict event as a list (BSPump's meaning)."""

    _parts = methodcaller("values")


class MappingItemsProcessor(_PartsProcessor):
    """Returns the `(key, value)` items of a dict event as a list (BSPump's meaning)."""

    _parts = methodcaller("items")


class MappingKeysGenerator(SplitGenerator):
    """Emits each key of a dict event as an event."""

    parts = methodcaller("keys")
    expected = Mapping


class MappingValuesGenerator(SplitGenerator):
    """Emits each value of a dict event as an event."""

    parts = methodcaller("values")
    expected = Mapping


class MappingItemsGenerator(SplitGenerator):
    """Emits each `(key, value)` item of a dict event as an event."""

    parts = methodcaller("items")
    expected = Mapping
