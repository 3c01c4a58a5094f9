"""FileSink: the base of the record sinks (CSV, JSON Lines) — paths, rotation, durability.

`write(events, contexts)` encodes the events on the event loop (cheap, and an event that cannot
be encoded fails alone), queues them, and returns an awaitable. One writer task takes whatever
is queued, appends it to the part files in a worker thread, fsyncs them (policy `always`), and
only then completes the awaitables: a batch is acknowledged only once its bytes are flushed
(and synced). Many batches queued meanwhile share one write and one fsync (group commit).

A write that fails (disk full, permission, file too large) cuts the files it touched back to
their size before it, so no torn record stays behind, and fails its batch; the pipeline retries
it. An event that cannot be encoded, or whose path cannot be made, fails alone and for good
(`PermanentWriteError`): the pipeline hands it to its error policy without retrying. Parts are
written under a temporary name and published (renamed) when they rotate — by size, event count
or age —, when they stay idle, and on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from pump.config import ComponentConfig
from pump.errors import ConfigError, PartialWriteError, PermanentWriteError
from pump.sink import Sink
from pump_file import parts
from pump_file.parts import Part
from pump_file.template import PathTemplate, TemplateError

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)

Fsync = Literal["always", "on_rotate", "never"]


class FileSinkConfig(ComponentConfig):
    """Settings every record file sink has."""

    path: str = Field(
        "",
        description="Path template: {date:%Y-%m-%d}, {n} (part number), {pipeline}, {sink}, "
        "{host}, {pid}, event fields {name} / {event[name]}, context keys {context[key]}",
        examples=["out/{date:%Y-%m-%d}/events-{n}.jsonl", "out/{context[file_name]}.csv"],
    )
    fsync: Fsync = Field(
        "always",
        description="always: fsync before acknowledging (survives power loss); on_rotate: "
        "acknowledge once written to the OS (survives a crash of the process), fsync when a "
        "file is finished; never",
    )
    max_bytes: int = Field(
        0, ge=0, description="Rotate a file before it exceeds this size, bytes (0: no limit)"
    )
    max_events: int = Field(
        0, ge=0, description="Rotate a file after this many events (0: no limit)"
    )
    max_age: float = Field(
        0.0, ge=0, description="Rotate a file this many seconds after it was opened (0: never)"
    )
    close_idle: float = Field(
        60.0,
        ge=0,
        description="Finish a file nothing was written to for this many seconds (0: never)",
    )
    max_open: int = Field(
        64, gt=0, description="Most files open at once; the least recently written is finished"
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
        description="On start, repair and publish unfinished files a stopped sink left behind",
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


class _Write:
    """One write() call: encoded records per part key, and its completion."""

    __slots__ = ("errors", "future", "groups")

    def __init__(
        self,
        groups: list[tuple[str, list[bytes]]],
        errors: dict[int, BaseException],
        future: asyncio.Future[None],
    ) -> None:
        self.groups = groups
        self.errors = errors
        self.future = future


class FileSink(Sink):
    """Writes records (one per event) into files named by a path template.

    Subclasses implement `encode(events)` (one bytes record per event) and may write a
    `header()` at the start of every file and `repair()` the tail of an unfinished one.
    """

    ConfigModel = FileSinkConfig
    Config: FileSinkConfig

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
        #: Paths of the files published (finished) lately, oldest first.
        self.published: deque[str] = deque(maxlen=10_000)
        self._parts: dict[str, Part] = {}  # open parts by key; touched only by the writer
        self._next_n: dict[str, int] = {}
        self._queue: list[_Write] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # -- the format hooks -----------------------------------------------------------------------

    def encode(self, events: list[Any]) -> list[bytes]:
        """One record (bytes, with its line end) per event; raise if any cannot be encoded."""
        raise NotImplementedError(f"{self.location()} does not implement encode()")

    def header(self) -> bytes:
        """Written at the start of every file (CSV field names); empty by default."""
        return b""

    def repair(self, fd: int, size: int) -> int:
        """Length of the complete records at the start of an unfinished file (0: none)."""
        return parts.last_newline_end(fd, size)

    # -- write ----------------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Awaitable[None] | None:
        """Queue the events; the awaitable completes once they are flushed (and synced)."""
        template = self.Template
        now = template.now()
        errors: dict[int, BaseException] = {}
        if template.per_event:
            by_key: dict[str, list[int]] = {}
            for i, (event, context) in enumerate(zip(events, contexts, strict=False)):
                try:
                    key = template.key(now, event, context)
                except TemplateError as exc:
                    errors[i] = PermanentWriteError.wrap(self.location(), exc)
                    continue
                indexes = by_key.get(key)
                if indexes is None:
                    by_key[key] = [i]
                else:
                    indexes.append(i)
            groups = []
            for key, indexes in by_key.items():
                records = self._encode([events[i] for i in indexes], indexes, errors)
                if records:
                    groups.append((key, records))
        else:
            records = self._encode(events, None, errors)
            groups = [(template.key(now), records)] if records else []
        if len(errors) == len(events):
            raise errors[min(errors)] if len(errors) == 1 else PartialWriteError(errors)
        if self._writer is None or self._writer.done():
            raise RuntimeError(f"{self.location()} is not running (start it first)")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(groups, errors, future))
        self._idle.clear()
        self._wake.set()
        return self._completion(future, errors)

    def _encode(
        self, events: list[Any], indexes: list[int] | None, errors: dict[int, BaseException]
    ) -> list[bytes]:
        try:
            return self.encode(events)
        except Exception:
            pass
        # one by one: an event that cannot be encoded fails alone, for good (no retry)
        records = []
        for j, event in enumerate(events):
            try:
                records.extend(self.encode([event]))
            except Exception as exc:
                error = PermanentWriteError.wrap(self.location(), exc, self.encode_hint())
                errors[indexes[j] if indexes is not None else j] = error
        return records

    def encode_hint(self) -> str:
        """Appended to the error of an event that cannot be encoded (an option that helps)."""
        return ""

    @staticmethod
    async def _completion(future: asyncio.Future[None], errors: dict[int, BaseException]) -> None:
        await future
        if errors:
            raise PartialWriteError(errors)

    # -- the writer -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover unfinished files of a previous run, then start the writer."""
        if self.Config.recover:
            recovered = await asyncio.to_thread(self._recover)
            self.published.extend(recovered)
        self._closing = False
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def flush(self) -> None:
        """Wait until everything queued is written."""
        if self._writer is not None and not self._writer.done():
            await self._idle.wait()

    async def stop(self) -> None:
        """Write what is queued, then finish (publish) every open file."""
        self._closing = True
        self._wake.set()
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await writer
            except asyncio.CancelledError:
                pass
            except Exception:
                L.exception("%s: the writer failed", self.location())
        published = await asyncio.to_thread(self._finish_all)
        self.published.extend(published)

    async def _write_loop(self) -> None:
        tick = self._tick()
        while True:
            if not self._queue:
                self._idle.set()
                if self._closing:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), tick)
            self._wake.clear()
            writes, self._queue = self._queue, []
            if not writes and not self._parts:
                continue  # nothing to write, nothing open to rotate or close
            try:
                results, published = await asyncio.to_thread(self._apply, writes, time.monotonic())
            except BaseException as exc:  # a bug, or cancelled: nothing is acknowledged
                for w in writes:
                    if not w.future.done():
                        w.future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("sink stopped")
                        )
                if not isinstance(exc, Exception):
                    raise
                L.exception("%s: writing failed", self.location())
                continue
            self.published.extend(published)
            for w, error in zip(writes, results, strict=True):
                if w.future.done():
                    continue  # its waiter was cancelled (a pipeline stopping): nobody to tell
                if error is None:
                    w.future.set_result(None)
                else:
                    w.future.set_exception(error)

    def _tick(self) -> float:
        c = self.Config
        limits = [x for x in (c.close_idle, c.max_age) if x > 0]
        return max(0.05, min([1.0, *(x / 4 for x in limits)]))

    # -- worker-thread side -------------------------------------------------------------------

    def _apply(
        self, writes: list[_Write], now: float
    ) -> tuple[list[BaseException | None], list[str]]:
        """Append every queued write; fsync; rotate. Per write: None or the error that failed it."""
        c = self.Config
        results: list[BaseException | None] = []
        published: list[str] = []
        first_size: dict[Part, int] = {}  # size of each part touched, before this round
        touched_by: list[set[Part]] = []
        for w in writes:
            before: dict[Part, int] = {}
            try:
                for key, records in w.groups:
                    self._append(key, records, before, now, published)
            except OSError as exc:
                for part, size in before.items():
                    parts.roll_back(part, size)
                results.append(self._describe(exc))
            else:
                results.append(None)
            touched_by.append(set(before))
            for part, size in before.items():
                first_size.setdefault(part, size)
        if c.fsync == "always":
            for part, size in first_size.items():
                if part.fd is None:
                    continue  # finished during this round: synced when it was published
                try:
                    os.fsync(part.fd)
                except OSError as exc:
                    parts.roll_back(part, size)
                    for i, touched in enumerate(touched_by):
                        if part in touched and results[i] is None:
                            results[i] = self._describe(exc)
        for part in first_size:
            if part.fd is not None and (
                self._full(part, now, 0) or (c.max_bytes and part.size >= c.max_bytes)
            ):
                self._finish(part, published)
        self._housekeep(now, published)
        return results, published

    def _describe(self, exc: OSError) -> OSError:
        """The error with the sink named, so the log says where the disk is full."""
        exc.add_note(f"while writing {self.location()}")
        return exc

    def _append(
        self,
        key: str,
        records: list[bytes],
        before: dict[Part, int],
        now: float,
        published: list[str],
    ) -> None:
        c = self.Config
        part = self._parts.get(key)
        i, n = 0, len(records)
        while i < n:
            if part is not None and self._full(part, now, len(records[i])):
                self._finish(part, published)
                part = None
            if part is None:
                part = self._open(key, now, published)
            j = n
            if c.max_events:
                j = min(j, i + c.max_events - part.events)
            if c.max_bytes:
                room = c.max_bytes - part.size
                k, total = i, 0
                while k < j and total + len(records[k]) <= room:
                    total += len(records[k])
                    k += 1
                j = max(k, i + 1) if part.events == 0 else k
            if j <= i:
                continue  # full: the next turn finishes it
            if part not in before:
                before[part] = part.size
            data = records[i] if j == i + 1 else b"".join(records[i:j])
            assert part.fd is not None
            parts.write_all(part.fd, data)
            part.size += len(data)
            part.events += j - i
            part.written = now
            i = j

    def _full(self, part: Part, now: float, next_record: int) -> bool:
        c = self.Config
        if c.max_events and part.events >= c.max_events:
            return True
        if c.max_bytes and part.events and part.size + next_record > c.max_bytes:
            return True
        return bool(c.max_age and now - part.opened >= c.max_age)

    def _open(self, key: str, now: float, published: list[str]) -> Part:
        c = self.Config
        if len(self._parts) >= c.max_open:
            oldest = min(self._parts.values(), key=lambda p: p.written)
            self._finish(oldest, published)
        part = parts.create(
            self.Template,
            key,
            self._next_n.get(key, 0),
            c.temp_prefix,
            c.temp_suffix,
            c.make_dirs,
            now,
        )
        self._next_n[key] = part.n + 1
        header = self.header()
        try:
            if header:
                assert part.fd is not None
                parts.write_all(part.fd, header)
            if c.fsync == "always":
                parts.fsync_dir(part.temp)
        except BaseException:
            fd, part.fd = part.fd, None
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(part.temp)
            raise
        part.size = part.header_size = len(header)
        self._parts[key] = part
        return part

    def _finish(self, part: Part, published: list[str]) -> None:
        if self._parts.get(part.key) is part:
            del self._parts[part.key]
        if part.fd is None:
            return
        try:
            path = parts.publish(part, self.Template, self.Config.fsync != "never")
        except OSError as exc:
            # the data stays in the temporary file; the next start recovers it
            L.error("%s: cannot finish %s: %s", self.location(), part.temp, exc)
            return
        if path is not None:
            published.append(path)

    def _housekeep(self, now: float, published: list[str]) -> None:
        c = self.Config
        for part in list(self._parts.values()):
            if (c.close_idle and now - part.written >= c.close_idle) or (
                c.max_age and now - part.opened >= c.max_age
            ):
                self._finish(part, published)

    def _finish_all(self) -> list[str]:
        published: list[str] = []
        for part in list(self._parts.values()):
            self._finish(part, published)
        return published

    def _recover(self) -> list[str]:
        c = self.Config
        published = []
        for temp, final in parts.orphans(self.Template, c.temp_prefix, c.temp_suffix):
            try:
                path = parts.recover(temp, final, self.repair, c.fsync != "never")
            except OSError as exc:
                L.error("%s: cannot recover %s: %s", self.location(), temp, exc)
                continue
            if path is not None:
                published.append(path)
        return published
