"""JSON parsing and serialisation of events with orjson."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field

from pump.common.encoding import TextEncoding
from pump.config import ComponentConfig
from pump.processor import Processor

_loads = orjson.loads
_dumps = orjson.dumps

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class JsonParserConfig(ComponentConfig):
    """Settings of a JsonParser."""

    encoding: TextEncoding = Field(
        "utf-8", description="Encoding of bytes events (orjson reads UTF-8 directly)"
    )


class JsonParser(Processor):
    """Parses a JSON document (bytes or str) into Python objects (dict, list, ...)."""

    ConfigModel = JsonParserConfig
    Config: JsonParserConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        encoding: str = self.Config["encoding"]
        # orjson parses UTF-8 bytes without decoding; other encodings are decoded first.
        self._decode_as = None if codecs.lookup(encoding).name == "utf-8" else encoding
        if self._decode_as is None:
            self.process = self._parse_utf8  # type: ignore[method-assign]  # no per-event branch

    def _parse_utf8(self, context: dict[str, Any], event: Any) -> Any:
        try:
            return _loads(event)
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._error(exc, event) from exc

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Return the parsed document."""
        try:
            if isinstance(event, (bytes, bytearray)):
                event = event.decode(self._decode_as or "utf-8")
            return _loads(event)
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._error(exc, event) from exc

    def _error(self, exc: ValueError, event: Any) -> Exception:
        if not isinstance(event, (bytes, bytearray, memoryview, str)):
            return TypeError(
                f"{self.location()}: cannot parse {type(event).__name__} as JSON; "
                "expected bytes or str"
            )
        return ValueError(f"{self.location()}: invalid JSON: {exc}")


class JsonSerializerConfig(ComponentConfig):
    """Settings of a JsonSerializer."""

    sort_keys: bool = Field(False, description="Write object keys in sorted order")
    indent: Literal[0, 2] = Field(0, description="0: compact; 2: pretty, two spaces")
    output: Literal["bytes", "str"] = Field("bytes", description="Produce bytes or str")
    append_newline: bool = Field(False, description="End each document with a newline (JSONL)")
    non_str_keys: bool = Field(
        False,
        description="Allow int, float, bool, enum, date... dict keys (written as strings)",
    )


class JsonSerializer(Processor):
    """Serialises an event (dict, list, dataclass, datetime, ...) to a JSON document (bytes)."""

    ConfigModel = JsonSerializerConfig
    Config: JsonSerializerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        option = 0
        if self.Config["sort_keys"]:
            option |= orjson.OPT_SORT_KEYS
        if self.Config["indent"] == 2:
            option |= orjson.OPT_INDENT_2
        if self.Config["append_newline"]:
            option |= orjson.OPT_APPEND_NEWLINE
        if self.Config["non_str_keys"]:
            option |= orjson.OPT_NON_STR_KEYS
        self._option = option
        self._as_str = self.Config["output"] == "str"

        if not self._as_str:
            self.process = self._dump_bytes  # type: ignore[method-assign]  # no per-event branch

    def _dump_bytes(self, context: dict[str, Any], event: Any) -> bytes:
        try:
            return _dumps(event, option=self._option)
        except orjson.JSONEncodeError as exc:
            raise TypeError(f"{self.location()}: event is not JSON-serializable: {exc}") from exc

    def process(self, context: dict[str, Any], event: Any) -> bytes | str:
        """Return the event as a JSON document."""
        try:
            data = _dumps(event, option=self._option)
        except orjson.JSONEncodeError as exc:
            raise TypeError(f"{self.location()}: event is not JSON-serializable: {exc}") from exc
        return data.decode() if self._as_str else data


class StdDictToJsonParserConfig(JsonSerializerConfig):
    """Settings of a StdDictToJsonParser."""

    output: Literal["bytes", "str"] = Field("str", description="Produce bytes or str")


class StdDictToJsonParser(JsonSerializer):
    """BSPump's StdDictToJsonParser: a JsonSerializer producing `str` by default."""

    ConfigModel = StdDictToJsonParserConfig
    Config: StdDictToJsonParserConfig


#: BSPump's names for JsonParser (each parses bytes or str into Python objects).
JsonBytesToDictParser = StdJsonToDictParser = JsonToDictParser = JsonParser
#: BSPump's name for JsonSerializer (bytes out).
DictToJsonBytesParser = JsonSerializer
#: BSPump's older name for StdDictToJsonParser (str out).
DictToJsonParser = StdDictToJsonParser
