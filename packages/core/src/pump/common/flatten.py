"""Flattening of nested dicts into one level of keys joined by a separator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.config import ComponentConfig
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


def flatten(
    nested: Mapping[Any, Any], separator: str = ".", flatten_lists: bool = False
) -> dict[Any, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}`.

    Nested dicts are walked; any other value (lists too, unless `flatten_lists`, which
    turns `{"a": [x, y]}` into `{"a.0": x, "a.1": y}`) is a leaf kept as it is. Empty dicts
    and lists are leaves, so no key is lost. Top-level keys are kept as they are; nested
    keys become strings. When two paths give the same key, the later one wins.
    """
    out: dict[Any, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        # A dict, or a list when flatten_lists is on (the caller checked which).
        items: Any = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            path = f"{prefix}{separator}{key}"
            if child and (isinstance(child, dict) or (flatten_lists and type(child) is list)):
                walk(child, path)
            else:
                out[path] = child

    for key, value in nested.items():
        if value and (isinstance(value, dict) or (flatten_lists and type(value) is list)):
            walk(value, str(key))
        else:
            out[key] = value
    return out


class FlattenDictProcessorConfig(ComponentConfig):
    """Settings of a FlattenDictProcessor."""

    separator: str = Field(".", description="Joins the keys of nested dicts")
    flatten_lists: bool = Field(
        False, description="Also flatten lists, into keys ending with the item index"
    )


class FlattenDictProcessor(Processor):
    """Flattens nested dict events: `{"person": {"name": "X"}}` → `{"person.name": "X"}`."""

    ConfigModel = FlattenDictProcessorConfig
    Config: FlattenDictProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Separator: str = self.Config["separator"]
        self.FlattenLists: bool = self.Config["flatten_lists"]

    def flatten(self, nested_dict: Mapping[Any, Any]) -> dict[Any, Any]:
        """Flatten one dict with this processor's settings."""
        return flatten(nested_dict, self.Separator, self.FlattenLists)

    def process(self, context: dict[str, Any], event: Any) -> dict[Any, Any]:
        """Return the flattened event."""
        if not isinstance(event, Mapping):
            raise TypeError(f"{self.location()}: expected a dict, got {type(event).__name__}")
        return flatten(event, self.Separator, self.FlattenLists)
