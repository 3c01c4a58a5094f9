"""Hexadecimal rendering of bytes events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.config import ComponentConfig
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class HexlifyProcessorConfig(ComponentConfig):
    """Settings of a HexlifyProcessor."""

    separator: str = Field("", max_length=1, description="Put between bytes, e.g. ':' or ' '")


class HexlifyProcessor(Processor):
    """Turns bytes events into their hexadecimal str: `b"\\x01\\xff"` → `"01ff"`."""

    ConfigModel = HexlifyProcessorConfig
    Config: HexlifyProcessorConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Separator: str = self.Config["separator"]

    def process(self, context: dict[str, Any], event: Any) -> str:
        """Return the hex str of the event."""
        if not isinstance(event, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self.location()}: expected bytes, got {type(event).__name__}")
        return event.hex(self.Separator) if self.Separator else event.hex()
