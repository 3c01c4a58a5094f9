"""Dotted paths into JSON documents: `data.items`, `meta.next_cursor`, `results.0.id`."""

from __future__ import annotations

from typing import Any

#: What `lookup` returns when the path leads nowhere.
MISSING: Any = object()


def lookup(document: Any, path: str) -> Any:
    """The value at `path` ('' is the document itself), or MISSING."""
    value = document
    for part in path.split(".") if path else ():
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value
