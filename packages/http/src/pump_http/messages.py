"""WebSocket messages into events and back: text, bytes or JSON."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from aiohttp import WSMsgType

from pump_http.errors import HTTPConnectorError

MessageFormat = Literal["auto", "text", "bytes", "json"]

#: Message types that carry data; the others (ping, pong, close, error) are the protocol's.
DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


class MessageError(HTTPConnectorError):
    """A message is not what its format says (not JSON, not UTF-8 text)."""


def decode(kind: WSMsgType, data: str | bytes, fmt: MessageFormat) -> Any:
    """The event of a data message: auto keeps text as str and binary as bytes."""
    if fmt == "auto":
        return data
    if fmt == "json":
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"the message is not JSON: {exc}") from None
    if fmt == "text":
        if isinstance(data, str):
            return data
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise MessageError(f"the message is not UTF-8 text: {exc}") from None
    return data.encode() if isinstance(data, str) else data


def encode(event: Any, fmt: Literal["auto", "text", "binary"]) -> str | bytes:
    """An event as a message: str is sent as text, bytes as binary (`auto`), others as JSON."""
    if isinstance(event, str | bytes):
        payload: str | bytes = event
    else:
        payload = orjson.dumps(event)  # TypeError for what JSON cannot hold
        if fmt != "binary":
            payload = payload.decode()
    if fmt == "text" and isinstance(payload, bytes):
        return payload.decode()  # UnicodeDecodeError for bytes that are not UTF-8
    if fmt == "binary" and isinstance(payload, str):
        return payload.encode()
    return payload
