"""Text encoding of events: bytes to str and back."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field

from pump.config import ComponentConfig
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


def known_encoding(value: str) -> str:
    """Validate a codec name (a config error at load time, not a failure per event)."""
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding '{value}'") from None
    return value


def known_encoding_or_none(value: str) -> str:
    """Validate a codec name; "" is accepted too (no decoding: the data stays bytes)."""
    return known_encoding(value) if value else value


def known_error_handler(value: str) -> str:
    """Validate a codec error handler name (strict, replace, ignore, surrogateescape, ...)."""
    try:
        codecs.lookup_error(value)
    except LookupError:
        raise ValueError(f"unknown error handler '{value}'") from None
    return value


#: A config field holding a codec name, checked when the config is loaded.
TextEncoding = Annotated[str, AfterValidator(known_encoding)]
#: A codec name or "" (no decoding: events are bytes), checked when the config is loaded.
TextEncodingOrNone = Annotated[str, AfterValidator(known_encoding_or_none)]
#: A config field holding a codec error handler name, checked when the config is loaded.
ErrorHandler = Annotated[str, AfterValidator(known_error_handler)]


class EncodingConfig(ComponentConfig):
    """Settings of the text encoding processors."""

    encoding: TextEncoding = Field("utf-8", description="Text encoding")
    errors: ErrorHandler = Field(
        "strict", description="What undecodable data does: strict (fail), replace, ignore, ..."
    )


class _TextCodec(Processor):
    """What both directions share: the encoding and the error handler, read once."""

    ConfigModel = EncodingConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Encoding: str = self.Config["encoding"]
        self.Errors: str = self.Config["errors"]


class BytesToStringParser(_TextCodec):
    """Decodes bytes events into str."""

    def process(self, context: dict[str, Any], event: Any) -> str:
        """Return the decoded text."""
        try:
            # str(buffer, ...) takes bytes, bytearray and memoryview alike.
            return str(event, self.Encoding, self.Errors)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.location()}: cannot decode as {self.Encoding}: {exc}") from exc
        except TypeError:
            raise TypeError(
                f"{self.location()}: expected bytes, got {type(event).__name__}"
            ) from None


class StringToBytesParser(_TextCodec):
    """Encodes str events into bytes."""

    def process(self, context: dict[str, Any], event: Any) -> bytes:
        """Return the encoded text."""
        if not isinstance(event, str):
            raise TypeError(f"{self.location()}: expected str, got {type(event).__name__}")
        try:
            return event.encode(self.Encoding, self.Errors)
        except UnicodeEncodeError as exc:
            raise ValueError(f"{self.location()}: cannot encode as {self.Encoding}: {exc}") from exc
