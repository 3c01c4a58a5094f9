"""Printing events (or contexts) to stdout/stderr: processors that pass events on, and sinks."""

from __future__ import annotations

import pprint
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO

from pydantic import Field

from pump.component import Component
from pump.config import ComponentConfig
from pump.processor import Processor
from pump.sink import Sink

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class PrintConfig(ComponentConfig):
    """Settings of the print processors and sinks."""

    stream: Literal["stdout", "stderr"] = Field("stdout", description="Where to print")


class _Printing(Component):
    """Base: the stream is the one passed in, else sys.stdout/sys.stderr at print time."""

    ConfigModel = PrintConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._stream = stream
        self._stream_name: str = self.Config["stream"]

    @property
    def Stream(self) -> TextIO:
        """The stream printed to (looked up per use, so redirecting sys.stdout works)."""
        if self._stream is not None:
            return self._stream
        stream: TextIO = getattr(sys, self._stream_name)
        return stream


class PrintProcessor(_Printing, Processor):
    """Prints each event with `print` and passes it on."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Print the event; return it unchanged."""
        print(event, file=self.Stream)
        return event


class PPrintProcessor(_Printing, Processor):
    """Pretty-prints each event with `pprint` and passes it on."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Pretty-print the event; return it unchanged."""
        pprint.pprint(event, stream=self.Stream)
        return event


class PrintContextProcessor(_Printing, Processor):
    """Prints each event's context and passes the event on."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Print the context; return the event unchanged."""
        print(context, file=self.Stream)
        return event


class PPrintContextProcessor(_Printing, Processor):
    """Pretty-prints each event's context and passes the event on."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Pretty-print the context; return the event unchanged."""
        pprint.pprint(context, stream=self.Stream)
        return event


class PrintSink(_Printing, Sink):
    """Prints each event with `print` (one write per batch)."""

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Print one event."""
        print(event, file=self.Stream)

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        """Print a batch in one write."""
        self.Stream.write("\n".join(map(str, events)) + "\n")

    async def flush(self) -> None:
        """Flush the stream."""
        self.Stream.flush()


class PPrintSink(_Printing, Sink):
    """Pretty-prints each event with `pprint` (one write per batch)."""

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Pretty-print one event."""
        pprint.pprint(event, stream=self.Stream)

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> None:
        """Pretty-print a batch in one write."""
        self.Stream.write("".join(pprint.pformat(event) + "\n" for event in events))

    async def flush(self) -> None:
        """Flush the stream."""
        self.Stream.flush()
