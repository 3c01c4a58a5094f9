"""Request bodies into events: one JSON document, a JSON array or NDJSON of many, raw bytes."""

from __future__ import annotations

from typing import Any, Literal

import orjson

from pump_http.errors import HTTPConnectorError

BodyFormat = Literal["auto", "json", "ndjson", "bytes", "text"]

_loads = orjson.loads

#: Content types read as NDJSON when the format is `auto` (one JSON document per line).
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


class BodyError(HTTPConnectorError):
    """A body is not what its format says (bad JSON, a bad line of NDJSON, not UTF-8 text)."""


def resolve_format(declared: BodyFormat, content_type: str) -> BodyFormat:
    """The format a body is read in: `declared`, or for `auto` the one its content type names."""
    if declared != "auto":
        return declared
    if content_type in NDJSON_TYPES:
        return "ndjson"
    if content_type == "application/json" or content_type.endswith("+json"):
        return "json"
    if content_type.startswith("text/"):
        return "text"
    return "bytes"


def decode(
    body: bytes, fmt: BodyFormat, split_arrays: bool = True, charset: str = "utf-8"
) -> list[Any]:
    """The events of a body; BodyError names the line or position of the first problem."""
    if fmt == "ndjson":
        try:
            return [_loads(line) for line in body.splitlines() if line]
        except orjson.JSONDecodeError:
            raise BodyError(_bad_line(body)) from None
    if fmt == "json":
        try:
            document = _loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(f"the body is not JSON: {exc}") from None
        if split_arrays and type(document) is list:
            return document
        return [document]
    if fmt == "text":
        try:
            return [body.decode(charset)]
        except (UnicodeDecodeError, LookupError) as exc:
            raise BodyError(f"the body is not {charset} text: {exc}") from None
    return [body]


def _bad_line(body: bytes) -> str:
    """The message for the first line of an NDJSON body that is not JSON."""
    for number, line in enumerate(body.splitlines(), 1):
        if not line:
            continue
        try:
            _loads(line)
        except orjson.JSONDecodeError as exc:
            return f"line {number} of the NDJSON body is not JSON: {exc}"
    return "the NDJSON body is not JSON"  # not reached: a line failed before
