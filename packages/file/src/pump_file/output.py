"""The base of the sinks that write output parts (pump_file.parts) named by a path template.

`OutputSink` holds what every such sink has: the settings of the path and the temporary
names, the template, part numbering and the list of published files. `QueuedOutputSink` adds
the writer: `write()` queues on the event loop, one writer task applies whatever is queued in
a worker thread (many writes share one round: group commit), and completes each write's
awaitable once the sink says it is settled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import Field, field_validator

from pump.config import ComponentConfig
from pump.errors import ConfigError, PartialWriteError
from pump.sink import Sink
from pump.waiting import wait_event
from pump_file import parts
from pump_file.parts import Part
from pump_file.template import PathTemplate, TemplateError

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)


class OutputConfig(ComponentConfig):
    """Settings every sink writing files has: the path and the temporary names."""

    path: str = Field("", description="Path template")
    temp_prefix: str = Field(
        ".", description="Prefix of the temporary name of a file being written"
    )
    temp_suffix: str = Field(
        ".inprogress", min_length=1, description="Suffix of that temporary name"
    )
    timezone: Literal["utc", "local"] = Field("utc", description="Time zone of {date}/{time}")
    make_dirs: bool = Field(True, description="Create missing folders")

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


class OutputSink(Sink):
    """A sink writing files named by `Config.path`, under a temporary name until published."""

    ConfigModel = OutputConfig
    Config: OutputConfig

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
                self.template_path(), pipeline=pipeline.Id, sink=self.Id, utc=c.timezone == "utc"
            )
        except TemplateError as exc:
            raise ConfigError(self.location(), [f"key 'path': {exc}"]) from None
        #: Paths of the files published lately, oldest first.
        self.published: deque[str] = deque(maxlen=10_000)
        self._next_n: dict[str, int] = {}

    def template_path(self) -> str:
        """The template the paths are made from: `path`, unless a sink adds to it."""
        return self.Config.path

    def _create_part(self, key: str, now: float, synced: bool = False) -> Part:
        """A new part of `key`, numbered after the last one this sink made (`synced`: every
        write to it is durable when it returns)."""
        c = self.Config
        part = parts.create(
            self.Template,
            key,
            self._next_n.get(key, 0),
            c.temp_prefix,
            c.temp_suffix,
            c.make_dirs,
            now,
            synced,
        )
        self._next_n[key] = part.n + 1
        return part

    def _remove_unfinished(self) -> None:
        """Remove the temporary files a stopped sink left (a live sink's are locked)."""
        c = self.Config
        for temp, final in parts.orphans(self.Template, c.temp_prefix, c.temp_suffix):
            try:
                parts.recover(temp, final, lambda fd, size: 0, fsync=False)
            except OSError as exc:
                L.error("%s: cannot remove %s: %s", self.location(), temp, exc)


class QueuedWrite:
    """One write() call waiting for the writer: its per-event errors, failure and completion."""

    __slots__ = ("errors", "failure", "future")

    def __init__(self, errors: dict[int, BaseException]) -> None:
        self.errors = errors
        #: What failed the whole write (set by the writer), or None.
        self.failure: BaseException | None = None
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def failed(self, failure: Exception | None) -> Exception:
        """What the write's awaitable raises: `failure` (the whole write failed) or, without
        one, its per-event errors."""
        return failure if failure is not None else PartialWriteError(self.errors)


W = TypeVar("W", bound=QueuedWrite)


class QueuedOutputSink(OutputSink, Generic[W]):
    """An output sink whose writes one writer task applies in rounds, in a worker thread.

    Subclasses implement `_apply(writes, now, finish_all)` (worker thread: write the queued
    writes, finish the files that are due, or all of them with `finish_all`; return the writes
    settled and the paths published) and `_tick()`, and say whether open files hold writes
    that are settled only when those files are finished (`_holds_writes`) and when to finish
    the open files without waiting (`_finish_now`).
    """

    _writer: asyncio.Task[None] | None = None
    _closing = False
    _flushing = False  # a flush() waits: finish the files holding writes now
    # made by start(), on the running loop
    _queue: list[W]
    _wake: asyncio.Event  # set when there is work for the writer
    _idle: asyncio.Event  # set while nothing is queued or held

    # -- the hooks --------------------------------------------------------------------------

    def _apply(self, writes: list[W], now: float, finish_all: bool) -> tuple[list[W], list[str]]:
        raise NotImplementedError(f"{self.location()} does not implement _apply()")

    def _tick(self) -> float:
        """Seconds the writer waits for writes before it looks at the open files again."""
        return 1.0

    def _has_open(self) -> bool:
        """True while files are open (a round without writes may still finish some)."""
        return False

    def _holds_writes(self) -> bool:
        """True while open files hold writes that are settled only once those are finished."""
        return False

    def _finish_now(self) -> bool:
        """True when the open files are to be finished now, not when they are due."""
        return False

    def _recover(self) -> list[str]:
        """Worker thread, on start: deal with what a stopped sink left; the paths published."""
        return []

    # -- the event loop side ----------------------------------------------------------------

    def _enqueue(self, write: W) -> Awaitable[None]:
        if self._writer is None or self._writer.done():
            raise RuntimeError(f"{self.location()} is not running (start it first)")
        self._queue.append(write)
        self._idle.clear()
        self._wake.set()
        return self._completion(write)

    @staticmethod
    async def _completion(write: QueuedWrite) -> None:
        try:
            await write.future
        except Exception as exc:
            error = write.failed(exc)
            if error is exc:
                raise
            raise error from exc
        if write.errors:
            raise write.failed(None)

    async def start(self) -> None:
        """Deal with what a previous run left, then start the writer."""
        self.published.extend(await asyncio.to_thread(self._recover))
        self._queue = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def flush(self) -> None:
        """Wait until everything queued is written, and the files holding writes finished."""
        if self._writer is not None and not self._writer.done():
            self._flushing = True
            self._wake.set()
            await self._idle.wait()

    async def stop(self) -> None:
        """Write what is queued, then finish (publish) every open file."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._closing = True
            self._wake.set()
            try:
                await writer
            except asyncio.CancelledError:
                pass
            except Exception:
                L.exception("%s: the writer failed", self.location())
        settled, published = await asyncio.to_thread(self._apply, [], time.monotonic(), True)
        self._settle(settled, published)

    async def _write_loop(self) -> None:
        tick = self._tick()
        while True:
            if not self._queue:
                if not self._holds_writes():
                    self._flushing = False
                    self._idle.set()
                    if self._closing:
                        return
                if not (self._holds_writes() and self._finish_now()):
                    await wait_event(self._wake, tick)
            self._wake.clear()
            writes, self._queue = self._queue, []
            if not writes and not self._has_open():
                continue  # nothing to write, nothing open to finish
            try:
                settled, published = await asyncio.to_thread(
                    self._apply, writes, time.monotonic(), self._finish_now()
                )
            except BaseException as exc:  # a bug, or cancelled: nothing is acknowledged
                failure = exc if isinstance(exc, Exception) else RuntimeError("sink stopped")
                for w in writes:
                    if not w.future.done():
                        w.future.set_exception(failure)
                if not isinstance(exc, Exception):
                    raise
                L.exception("%s: writing failed", self.location())
                continue
            self._settle(settled, published)

    def _settle(self, settled: list[W], published: list[str]) -> None:
        self.published.extend(published)
        for w in settled:
            if w.future.done():
                continue  # its waiter was cancelled (a pipeline stopping): nobody to tell
            if w.failure is None:
                w.future.set_result(None)
            else:
                w.future.set_exception(w.failure)
