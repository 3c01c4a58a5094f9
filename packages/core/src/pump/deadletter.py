"""Dead letters: a JSON-safe record of a failed event that every first-party sink can write."""

from __future__ import annotations

import base64
import datetime
import enum
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "dead_letter_context",
    "dead_letter_record",
    "json_safe",
    "original_event",
    "register_event_type",
]

#: Containers nested deeper than this are written as their `str()`: a record stays finite.
MAX_DEPTH = 64

_UNKNOWN = object()

#: Event types a package taught dead letters (`register_event_type`): type → (encoding, encode).
_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {}
#: encoding name → decode, for `original_event`.
_DECODERS: dict[str, Callable[[Any], Any]] = {}


def register_event_type(
    kind: type,
    encoding: str,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any] | None = None,
) -> None:
    """Teach dead letters an event type of a package's own (pump-pandas: `DataFrame`).

    `encode(event)` returns what JSON can hold (it goes through `json_safe` as well); the
    record's `event_encoding` is then `encoding`, and `original_event` gives the event back
    with `decode(value)` when one is registered (else the JSON value as it is). Instances of
    subclasses of `kind` are encoded the same way. The core imports no such package: the
    package registers its types when it is imported.
    """
    if encoding in ("utf-8", "base64", "str"):
        raise ValueError(f"event encoding '{encoding}' is one of the core's own")
    _ENCODERS[kind] = (encoding, encode)
    if decode is not None:
        _DECODERS[encoding] = decode


def _registered(value: Any) -> tuple[str, Callable[[Any], Any]] | None:
    """The encoding registered for the value's type or the nearest of its bases, if any."""
    if not _ENCODERS:
        return None
    for kind in type(value).__mro__:
        found = _ENCODERS.get(kind)
        if found is not None:
            return found
    return None


def dead_letter_record(
    pipeline: str,
    component: str | None,
    error: BaseException,
    event: Any,
    context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The record a dead-letter sink receives: the event made JSON-safe, where and why it failed.

    Its keys are always the same, so a CSV sink's columns fit every record:

    - `pipeline`, `component`: where the event failed; `error`: `"<Type>: <message>"`;
    - `event`: the event itself when JSON can hold it, else its JSON-safe form;
    - `event_type`: the Python type of the event (`dict`, `bytes`, `DataFrame`, ...);
    - `event_encoding`: how `event` holds it — `null` (as it was), `"utf-8"` (bytes that were
      UTF-8 text), `"base64"` (other bytes), `"str"` (an object JSON cannot hold, as `str()`)
      or the name a package registered for its event type (`register_event_type`; pump-pandas:
      `"dataframe"`, the frame's rows as a list of objects);
    - `context`: the source's context (topic/partition/offset, file/line, ...), JSON-safe;
    - `timestamp`: when it failed, seconds since the epoch.
    """
    safe_event, encoding = _top_level(event)
    return {
        "pipeline": pipeline,
        "component": component,
        "error": f"{type(error).__name__}: {error}",
        "event": safe_event,
        "event_type": type(event).__name__,
        "event_encoding": encoding,
        "context": json_safe(dict(context)) if context else {},
        "timestamp": time.time(),
    }


def dead_letter_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The context the dead-letter sink writes with: the event's, minus the keys that steer a
    sink (`kafka_sink_topic`, `amqp_sink_routing_key`, ...), which were meant for the pipeline's
    own sink — a dead letter goes where the dead-letter sink is configured to write."""
    if not context:
        return {}
    return {k: v for k, v in context.items() if "_sink_" not in k}


def original_event(record: Mapping[str, Any]) -> Any:
    """The event of a dead-letter record as it was: bytes again when it was bytes."""
    encoding = record.get("event_encoding")
    event = record.get("event")
    if encoding == "utf-8":
        return str(event).encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(str(event))
    decode = _DECODERS.get(encoding) if isinstance(encoding, str) else None
    if decode is not None:
        return decode(event)
    return event


def _top_level(event: Any) -> tuple[Any, str | None]:
    if isinstance(event, (bytes, bytearray, memoryview)):
        return _bytes(bytes(event))
    if _plain(event, 0):
        return event, None
    registered = _registered(event)
    if registered is not None:
        encoding, encode = registered
        return json_safe(encode(event)), encoding
    if isinstance(event, (Mapping, list, tuple, set, frozenset)):
        return json_safe(event), None
    converted = _scalar(event)
    if converted is _UNKNOWN:
        return str(event), "str"
    return converted, None


def _bytes(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` with everything JSON cannot hold replaced by what it can.

    Mappings become objects with string keys, sequences and sets become arrays, bytes become
    UTF-8 text when they are, else `{"base64": "..."}`, dates their ISO form, non-finite floats
    null, and any other object its `str()`.
    """
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        text, encoding = _bytes(bytes(value))
        return text if encoding == "utf-8" else {"base64": text}
    converted = _scalar(value)
    if converted is _UNKNOWN:
        registered = _registered(value)
        if registered is not None:
            return json_safe(registered[1](value), depth + 1)
        return str(value)
    return converted


def _scalar(value: Any) -> Any:
    """A JSON scalar for the value types that have an obvious one; `_UNKNOWN` otherwise."""
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, int):  # subclasses of the plain types
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return _UNKNOWN


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, (bytes, bytearray)):
        return _bytes(bytes(key))[0]
    return str(key)


def _plain(value: Any, depth: int) -> bool:
    """True when JSON holds `value` as it is (so the record keeps the very event)."""
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return True
    if kind is float:
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_plain(v, depth + 1) for v in value)
    return False
