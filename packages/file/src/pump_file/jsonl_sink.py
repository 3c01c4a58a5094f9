"""FileJSONLinesSink: one JSON document per line, serialised with orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field

from pump_file.sink import FileSink, FileSinkConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class FileJSONLinesSinkConfig(FileSinkConfig):
    """Settings of the JSON Lines sink."""

    sort_keys: bool = Field(False, description="Write object keys sorted")
    non_serializable: Literal["fail", "str"] = Field(
        "fail",
        description=(
            "A value JSON cannot hold (a set, an object): fail (the event fails), str (written as "
            "str(value))"
        ),
    )


class FileJSONLinesSink(FileSink):
    """Writes each event as one line of JSON (UTF-8).

    A file's lines are complete JSON documents: an unfinished file left by a crash is cut back
    to its last complete line before it is published.
    """

    ConfigModel = FileJSONLinesSinkConfig
    Config: FileJSONLinesSinkConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        if self.Config.sort_keys:
            option |= orjson.OPT_SORT_KEYS
        self._default = str if self.Config.non_serializable == "str" else None
        self._option = option

    def encode_hint(self) -> str:
        if self._default is None:
            return " (non_serializable: str writes such values as text)"
        return ""

    def decode(self, record: bytes) -> Any:
        return orjson.loads(memoryview(record))  # orjson takes no bytes subclass

    def encode(self, events: list[Any]) -> list[bytes]:
        dumps, default, option = orjson.dumps, self._default, self._option
        return [dumps(event, default, option) for event in events]
