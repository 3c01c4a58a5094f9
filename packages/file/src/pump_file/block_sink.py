"""FileBlockSink: each event becomes one whole file (the counterpart of FileBlockSource)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field, field_validator

from pump.common.encoding import TextEncoding
from pump.config import ComponentConfig
from pump.errors import ConfigError, PartialWriteError, PermanentWriteError
from pump.sink import Sink
from pump_file import parts
from pump_file.sink import Fsync
from pump_file.template import PathTemplate, TemplateError

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)


class FileBlockSinkConfig(ComponentConfig):
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
    temp_prefix: str = Field(
        ".", description="Prefix of the temporary name of a file being written"
    )
    temp_suffix: str = Field(
        ".inprogress", min_length=1, description="Suffix of that temporary name"
    )
    timezone: Literal["utc", "local"] = Field("utc", description="Time zone of {date}/{time}")
    make_dirs: bool = Field(True, description="Create missing folders")
    recover: bool = Field(
        True,
        description="On start, remove unfinished files a stopped sink left (never acknowledged)",
    )

    @field_validator("path")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        if not value:
            raise ValueError("give the output path (a template)")
        try:
            PathTemplate(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value


class FileBlockSink(Sink):
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
        c = self.Config
        try:
            self.Template = PathTemplate(
                c.path, pipeline=pipeline.Id, sink=self.Id, utc=c.timezone == "utc"
            )
        except TemplateError as exc:
            raise ConfigError(self.location(), [f"key 'path': {exc}"]) from None
        #: Paths of the files written lately, oldest first.
        self.published: list[str] = []
        self._next_n: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Remove unfinished files of a previous run (they were never acknowledged)."""
        if self.Config.recover:
            await asyncio.to_thread(self._remove_orphans)

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Awaitable[None] | None:
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
        c = self.Config
        fsync = c.fsync != "never"
        failed: dict[int, BaseException] = {}
        published: list[str] = []
        for i, key, data in items:
            try:
                part = parts.create(
                    self.Template,
                    key,
                    self._next_n.get(key, 0),
                    c.temp_prefix,
                    c.temp_suffix,
                    c.make_dirs,
                    time.monotonic(),
                )
            except OSError as exc:
                failed[i] = exc
                continue
            self._next_n[key] = part.n + 1
            try:
                assert part.fd is not None
                parts.write_all(part.fd, data)
                part.size, part.events = len(data), 1
                path = parts.publish(part, self.Template, fsync)
            except OSError as exc:
                exc.add_note(f"while writing {self.location()}")
                failed[i] = exc
                if part.fd is not None:
                    os.close(part.fd)
                    part.fd = None
                with contextlib.suppress(OSError):
                    os.unlink(part.temp)
                continue
            if path is not None:
                published.append(path)
        return failed, published

    def _remove_orphans(self) -> None:
        c = self.Config
        for temp, _final in parts.orphans(self.Template, c.temp_prefix, c.temp_suffix):
            try:
                fd = os.open(temp, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live sink is writing it
            finally:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
                L.warning(
                    "%s: removed %s, an unfinished file of a stopped sink", self.location(), temp
                )
