"""FileSink: the base of the record sinks (CSV, JSON Lines) — paths, rotation, durability.

`write(events, contexts)` encodes the events on the event loop (cheap, and an event that cannot
be encoded fails alone), queues them, and returns an awaitable. One writer task takes whatever
is queued, appends it to the part files in a worker thread (policy `always`: files opened with
O_DSYNC, or fsynced where there is none), and only then completes the awaitables: a batch is
acknowledged only once its bytes are flushed (and synced). Many batches queued meanwhile share
one write per file (group commit).

A write that fails (disk full, permission, file too large) cuts the files it touched back to
their size before it, so no torn record stays behind, and fails its batch. The sink keeps each
write's encoded records until they are written and hands them back when the write fails
(`keeps_failed_events`): the pipeline retries those records as they are, and need not keep the
events meanwhile; a record whose write fails for good reaches the error policy as the event the
file would give back (`decode`). An event that cannot be encoded, or whose path cannot be made,
fails alone and for good (`PermanentWriteError`): the pipeline hands it to its error policy
without retrying. Parts are written under a temporary name and published (renamed) when they
rotate — by size, event count or age —, when they stay idle, and on stop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pump.errors import PartialWriteError, PermanentWriteError
from pump_file import parts
from pump_file.output import OutputConfig, QueuedOutputSink, QueuedWrite
from pump_file.parts import Part
from pump_file.template import TemplateError

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)

Fsync = Literal["always", "on_rotate", "never"]


class FileSinkConfig(OutputConfig):
    """Settings every record file sink has."""

    path: str = Field(
        "",
        description="Path template: {date:%Y-%m-%d}, {n} (part number), {pipeline}, {sink}, "
        "{host}, {pid}, event fields {name} / {event[name]}, context keys {context[key]}",
        examples=["out/{date:%Y-%m-%d}/events-{n}.jsonl", "out/{context[file_name]}.csv"],
    )
    fsync: Fsync = Field(
        "always",
        description="always: durable before acknowledging (O_DSYNC writes, or fsync where the "
        "system has no O_DSYNC; survives power loss); on_rotate: "
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
    recover: bool = Field(
        True,
        description="On start, repair and publish unfinished files a stopped sink left behind",
    )


class EncodedRecord(bytes):
    """An event as a file sink encoded it, handed back by a failed write: written again as it
    is, to the part key it had."""

    key: str

    def __new__(cls, data: bytes, key: str) -> EncodedRecord:
        record = super().__new__(cls, data)
        record.key = key
        return record


#: A write's records for one part key, with the index of each record's event (None: records[i]
#: is event i).
Group = tuple[str, list[bytes], list[int] | None]


class _Write(QueuedWrite):
    """One write() call: encoded records per part key, and its completion.

    Until it is written it keeps what a failure hands back: the records, and the events that
    could not be encoded (`kept`)."""

    __slots__ = ("groups", "kept")

    def __init__(
        self, groups: list[Group], errors: dict[int, BaseException], kept: dict[int, Any]
    ) -> None:
        super().__init__(errors)
        self.groups = groups
        self.kept = kept

    def failed(self, failure: Exception | None) -> Exception:
        """Every failed event, as its record when the write failed, as itself when it could
        not be encoded."""
        errors, events = dict(self.errors), dict(self.kept)
        if failure is not None:
            for key, records, indexes in self.groups:
                for i, record in zip(
                    range(len(records)) if indexes is None else indexes, records, strict=True
                ):
                    errors[i] = failure
                    events[i] = (
                        record if type(record) is EncodedRecord else EncodedRecord(record, key)
                    )
        return PartialWriteError(errors, events)


def _by_record_key(records: list[Any]) -> list[Group]:
    """The groups of a failed write's records, handed back to be written again."""
    by_key: dict[str, tuple[list[bytes], list[int]]] = {}
    for i, record in enumerate(records):
        got = by_key.setdefault(record.key, ([], []))
        got[0].append(record)
        got[1].append(i)
    return [(key, got[0], got[1]) for key, got in by_key.items()]


def _by_key(writes: list[_Write]) -> list[tuple[str, list[bytes], list[_Write]]]:
    """The round's records per part key, in order, with the writes they came from."""
    merged: dict[str, tuple[list[bytes], list[_Write]]] = {}
    for w in writes:
        for key, records, _ in w.groups:
            got = merged.setdefault(key, ([], []))
            got[0].extend(records)
            got[1].append(w)
    return [(key, records, owners) for key, (records, owners) in merged.items()]


class FileSink(QueuedOutputSink[_Write]):
    """Writes records (one per event) into files named by a path template.

    Subclasses implement `encode(events)` (one bytes record per event) and may write a
    `header()` at the start of every file and `repair()` the tail of an unfinished one.
    """

    ConfigModel = FileSinkConfig
    Config: FileSinkConfig
    keeps_failed_events = True

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._parts: dict[str, Part] = {}  # open parts by key; touched only by the writer
        #: Parts are opened with O_DSYNC: every write is durable when it returns.
        self._synced_writes = self.Config.fsync == "always" and parts.DSYNC != 0

    # -- the format hooks -----------------------------------------------------------------------

    def encode(self, events: list[Any]) -> list[bytes]:
        """One record (bytes, with its line end) per event; raise if any cannot be encoded."""
        raise NotImplementedError(f"{self.location()} does not implement encode()")

    def decode(self, record: bytes) -> Any:
        """The event a record holds, as the file would give it back (for the error policy);
        the record itself by default."""
        return record

    def event_of(self, handed_back: Any) -> Any:
        """A record handed back by a failed write: decoded, else as it is."""
        if type(handed_back) is not EncodedRecord:
            return handed_back
        try:
            return self.decode(handed_back)
        except Exception:  # the error policy still gets the record, as bytes
            return bytes(handed_back)

    def header(self) -> bytes:
        """Written at the start of every file (CSV field names); empty by default."""
        return b""

    def repair(self, fd: int, size: int) -> int:
        """Length of the complete records at the start of an unfinished file (0: none)."""
        return parts.last_newline_end(fd, size)

    # -- write ----------------------------------------------------------------------------------

    def write(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        """Queue the events; the awaitable completes once they are flushed (and synced)."""
        if events and type(events[0]) is EncodedRecord:
            return self._enqueue(_Write(_by_record_key(events), {}, {}))
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
            groups: list[Group] = []
            for key, indexes in by_key.items():
                records = self._encode([events[i] for i in indexes], indexes, errors)
                if records:
                    if len(records) < len(indexes):
                        indexes = [i for i in indexes if i not in errors]
                    groups.append((key, records, indexes))
        else:
            records = self._encode(events, None, errors)
            ok = [i for i in range(len(events)) if i not in errors] if errors else None
            groups = [(template.key(now), records, ok)] if records else []
        if len(errors) == len(events):
            raise errors[min(errors)] if len(errors) == 1 else PartialWriteError(errors)
        return self._enqueue(_Write(groups, errors, {i: events[i] for i in errors}))

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

    # -- the writer -----------------------------------------------------------------------------

    def _has_open(self) -> bool:
        return bool(self._parts)

    def _tick(self) -> float:
        c = self.Config
        limits = [x for x in (c.close_idle, c.max_age) if x > 0]
        return max(0.05, min([1.0, *(x / 4 for x in limits)]))

    # -- worker-thread side -------------------------------------------------------------------

    def _apply(
        self, writes: list[_Write], now: float, finish_all: bool
    ) -> tuple[list[_Write], list[str]]:
        """Append every queued write; fsync; rotate; a write that fails gets its `failure`.

        The records of one part key are appended together, one system call for the round
        rather than one per write: the worker thread waits for the GIL after each system call,
        and under a busy event loop that wait is most of a round. With `fsync: always` the
        parts are opened with O_DSYNC where there is one, so that call makes them durable too.
        """
        c = self.Config
        published: list[str] = []
        first_size: dict[Part, int] = {}  # size of each part touched, before this round
        touched_by: dict[_Write, set[Part]] = {w: set() for w in writes}
        for key, records, owners in _by_key(writes):
            appended = self._append_for(
                key, records, owners, now, published, touched_by, first_size
            )
            if not appended and len(owners) > 1:
                # together they did not fit (a full disk): one by one, as many as fit
                for w in owners:
                    mine = [r for k, rs, _ in w.groups if k == key for r in rs]
                    self._append_for(key, mine, [w], now, published, touched_by, first_size)
        if c.fsync == "always" and not self._synced_writes:
            for part, size in first_size.items():
                if part.fd is None:
                    continue  # finished during this round: synced when it was published
                try:
                    os.fsync(part.fd)
                except OSError as exc:
                    parts.roll_back(part, size)
                    for w, touched in touched_by.items():
                        if part in touched and w.failure is None:
                            w.failure = self._describe(exc)
        for part in first_size:
            if part.fd is not None and (
                self._full(part, now, 0) or (c.max_bytes and part.size >= c.max_bytes)
            ):
                self._finish(part, published)
        self._housekeep(now, published, finish_all)
        for w in writes:
            # freed here, while in the CPU's cache, rather than later by the event loop; a
            # failed write keeps them to hand back (last: a round that raises frees none)
            if w.failure is None:
                w.groups = []
        return writes, published

    def _append_for(
        self,
        key: str,
        records: list[bytes],
        owners: list[_Write],
        now: float,
        published: list[str],
        touched_by: dict[_Write, set[Part]],
        first_size: dict[Part, int],
    ) -> bool:
        """Append the records of `owners` to `key`'s parts; False (and cut back) if it failed:
        a sole owner then gets the failure."""
        before: dict[Part, tuple[int, int]] = {}
        try:
            self._append(key, records, before, now, published)
        except OSError as exc:
            for part, (size, events) in before.items():
                parts.roll_back(part, size)
                part.events = events
            if len(owners) == 1 and owners[0].failure is None:
                owners[0].failure = self._describe(exc)
            return False
        for w in owners:
            touched_by[w].update(before)
        for part, (size, _) in before.items():
            first_size.setdefault(part, size)
        return True

    def _describe(self, exc: OSError) -> OSError:
        """The error with the sink named, so the log says where the disk is full."""
        exc.add_note(f"while writing {self.location()}")
        return exc

    def _append(
        self,
        key: str,
        records: list[bytes],
        before: dict[Part, tuple[int, int]],
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
                before[part] = (part.size, part.events)
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
        part = self._create_part(key, now, synced=self._synced_writes)
        header = self.header()
        try:
            if header:
                assert part.fd is not None
                parts.write_all(part.fd, header)
            if c.fsync == "always":
                parts.fsync_dir(part.temp)
        except BaseException:
            parts.discard(part)
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

    def _housekeep(self, now: float, published: list[str], finish_all: bool) -> None:
        c = self.Config
        for part in list(self._parts.values()):
            if (
                finish_all
                or (c.close_idle and now - part.written >= c.close_idle)
                or (c.max_age and now - part.opened >= c.max_age)
            ):
                self._finish(part, published)

    def _recover(self) -> list[str]:
        """Repair and publish the unfinished files of a previous run."""
        c = self.Config
        if not c.recover:
            return []
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
