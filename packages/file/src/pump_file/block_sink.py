"""FileBlockSink: each event becomes one whole file (the counterpart of FileBlockSource)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field

from pump.common.encoding import TextEncoding
from pump.errors import PartialWriteError, PermanentWriteError
from pump_file import parts
from pump_file.output import OutputConfig, OutputSink
from pump_file.sink import Fsync
from pump_file.template import TemplateError

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class FileBlockSinkConfig(OutputConfig):
    """Settings of the block sink."""

    path: str = Field(
        "",
        description="Path template of each file, e.g. out/{context[file_name]} or "
        "out/{date:%Y%m%d}/{n:06d}.bin; a taken name gets the next {n} (or -1, -2, ...)",
    )
    fsync: Fsync = Field(
        "always", description="always / on_rotate: fsync each file before acknowledging; never"
    )
    encoding: TextEncoding = Field(
        "utf-8",
        description="Encoding of str events (bytes are written as they are, dicts and lists "
        "as JSON)",
    )
    recover: bool = Field(
        True,
        description="On start, remove unfinished files a stopped sink left (never acknowledged)",
    )


class FileBlockSink(OutputSink):
    """Writes each event (bytes; str encoded; a dict or list as JSON) as a whole file.

    A file appears under its final name only once it is completely written (and synced), and
    the event is acknowledged only then; an existing file is never overwritten.
    """

    ConfigModel = FileBlockSinkConfig
    Config: FileBlockSinkConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Remove unfinished files of a previous run (they were never acknowledged)."""
        if self.Config.recover:
            await asyncio.to_thread(self._remove_unfinished)

    def write(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        """Write one file per event in a worker thread; done once every file is published."""
        template = self.Template
        now = template.now()
        errors: dict[int, BaseException] = {}
        items: list[tuple[int, str, bytes]] = []
        encoding = self.Config.encoding
        fixed_key = None if template.per_event else template.key(now)
        for i, (event, context) in enumerate(zip(events, contexts, strict=False)):
            try:
                key = fixed_key if fixed_key is not None else template.key(now, event, context)
                if isinstance(event, str):
                    data = event.encode(encoding)
                elif isinstance(event, (bytes, bytearray, memoryview)):
                    data = bytes(event)
                elif isinstance(event, (dict, list)):  # a dead-letter record, for one
                    data = orjson.dumps(event)
                else:
                    raise TypeError(
                        f"a block is bytes, str, or a dict or list (written as JSON), "
                        f"not {type(event).__name__}"
                    )
            except (TemplateError, TypeError, UnicodeError) as exc:
                errors[i] = PermanentWriteError.wrap(self.location(), exc)
                continue
            items.append((i, key, data))
        if len(errors) == len(events):
            raise errors[min(errors)] if len(errors) == 1 else PartialWriteError(errors)
        return self._write(items, errors, len(events))

    async def _write(
        self, items: list[tuple[int, str, bytes]], errors: dict[int, BaseException], total: int
    ) -> None:
        async with self._lock:
            failed, published = await asyncio.to_thread(self._write_files, items)
        self.published.extend(published)
        errors.update(failed)
        if len(errors) == total:
            raise errors[min(errors)]
        if errors:
            raise PartialWriteError(errors)

    def _write_files(
        self, items: list[tuple[int, str, bytes]]
    ) -> tuple[dict[int, BaseException], list[str]]:
        fsync = self.Config.fsync != "never"
        failed: dict[int, BaseException] = {}
        published: list[str] = []
        for i, key, data in items:
            try:
                part = self._create_part(key, time.monotonic())
            except OSError as exc:
                failed[i] = exc
                continue
            try:
                assert part.fd is not None
                parts.write_all(part.fd, data)
                part.size, part.events = len(data), 1
                path = parts.publish(part, self.Template, fsync)
            except OSError as exc:
                exc.add_note(f"while writing {self.location()}")
                failed[i] = exc
                parts.discard(part)
                continue
            if path is not None:
                published.append(path)
        return failed, published
