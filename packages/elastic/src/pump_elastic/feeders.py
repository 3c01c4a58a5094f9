"""Data feeders: how an event becomes a bulk action (BSPump's data feeders), as NDJSON lines.

A feeder returns the action line and the source line (None for `delete`), both ready to join
into a bulk body (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html).
A custom feeder is any callable `(context, event) -> (action, body)` where `action` is the bulk
API's action object, e.g. `{"index": {"_index": "x", "_id": "1"}}`, and `body` the document
(None for delete); `_index` may be left out (the sink's index is used).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import orjson

from pump import PermanentWriteError

#: The built-in feeders by name.
BUILT_IN = ("create_or_index", "create", "index", "update", "delete")

CustomFeeder = Callable[[dict[str, Any], Any], tuple[dict[str, Any], Any]]


class FeederError(PermanentWriteError, ValueError):
    """An event cannot become a bulk action (no id for delete/update, not a JSON object, ...)."""


def resolve_feeder(spec: str | CustomFeeder) -> str | CustomFeeder:
    """A built-in feeder's name, or the callable named by 'module:function'."""
    if callable(spec):
        return spec
    if spec in BUILT_IN:
        return spec
    module, sep, attribute = spec.partition(":")
    if not sep:
        raise ValueError(
            f"unknown data_feeder {spec!r}: one of {', '.join(BUILT_IN)} or 'module:function'"
        )
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"data_feeder {spec!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise ValueError(f"data_feeder {spec!r} is not callable")
    return found  # type: ignore[no-any-return]


def document(event: Any, id_field: str) -> tuple[Any, Any]:
    """(id, JSON body bytes) of an event: a dict (the id field taken out when it is `_id`),
    or bytes/str that already hold a JSON object (the id then comes from the context only)."""
    if type(event) is dict:
        if id_field in event:
            doc_id = event[id_field]
            if id_field == "_id":  # a metadata field: never in the document itself
                event = event.copy()
                del event["_id"]
            return doc_id, orjson.dumps(event)
        return None, orjson.dumps(event)
    if isinstance(event, bytes | bytearray | memoryview | str):
        raw = event.encode() if isinstance(event, str) else bytes(event)
        stripped = raw.strip()
        if not stripped.startswith(b"{") or b"\n" in stripped:
            try:
                parsed = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                raise FeederError(f"the event is not a JSON document: {exc}") from None
            if not isinstance(parsed, dict):
                raise FeederError(f"the event is JSON {type(parsed).__name__}, not an object")
            return None, orjson.dumps(parsed)
        return None, stripped
    if isinstance(event, dict):
        return document(dict(event), id_field)
    raise FeederError(f"cannot index a {type(event).__name__}: events must be dicts or JSON text")


def custom_action(
    feeder: CustomFeeder, context: dict[str, Any], event: Any, index: str
) -> tuple[str, str, Any, bytes, bytes | None]:
    """(op, index, id, action line, body line) from a custom feeder's answer."""
    action, body = feeder(context, event)
    if not isinstance(action, dict) or len(action) != 1:
        raise FeederError(f"the data feeder returned {action!r}, not one bulk action object")
    ((op, meta),) = action.items()
    if op not in BUILT_IN[1:]:
        raise FeederError(
            f"the data feeder returned operation {op!r}: one of create, index, update, delete"
        )
    meta = dict(meta or {})
    meta.setdefault("_index", index)
    if op in ("update", "delete") and meta.get("_id") is None:
        raise FeederError(f"the data feeder's {op} action has no _id")
    line = orjson.dumps({op: meta})
    body_line = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    if op != "delete" and body_line is None:
        raise FeederError(f"the data feeder's {op} action has no document")
    return op, meta["_index"], meta.get("_id"), line, body_line
