"""URL templates of sinks: `https://api/items/{id}` filled in from each event, URL-quoted."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote


class URLTemplate(string.Formatter):
    """`{name}` is the event's field `name`, `{context[key]}` a context key; values are quoted.

    A template without fields is static: `render` returns it as it is, at no cost per event.
    """

    def __init__(self, template: str) -> None:
        super().__init__()
        self.template = template
        # parse once: a malformed template is a config error, not a failure per event
        self.fields = [name for _, name, _, _ in self.parse(template) if name is not None]
        self.static = not self.fields

    def render(self, event: Any, context: Mapping[str, Any]) -> str:
        """The URL for one event; KeyError or TypeError when a field is missing."""
        if self.static:
            return self.template
        return self.vformat(self.template, (), {"__event__": event, "__context__": context})

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if key == "context":
            return kwargs["__context__"]
        event = kwargs["__event__"]
        if key == "event":
            return event
        if not isinstance(event, Mapping):
            raise TypeError(f"the URL names the field '{key}', but the event is not a mapping")
        if key not in event:
            raise KeyError(f"the event has no field '{key}' for the URL")
        return event[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(format(value, format_spec), safe="")
