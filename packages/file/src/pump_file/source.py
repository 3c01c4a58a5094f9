"""FileSource: the base of every file source — finding, claiming, reading, positions, lifecycle.

Subclasses only parse: `open_reading()` returns a `Reading` that turns the file's content into
batches of events, in a worker thread. This module does the rest:

- finds files (several glob patterns, `**`, include/exclude), claims each one (flock + rename
  to `-locked`), resumes orphans a dead pump left locked;
- hands batches over with a token (file, range) and tracks them with a CommitTracker, so the
  saved position of a file only ever advances over batches that are done;
- saves positions atomically every `position_interval` seconds and on stop;
- when every batch of a file is done, post-processes it (rename to `-processed`, move, delete,
  keep); a file that cannot be read is renamed `-failed`;
- in `follow` mode, tails files instead, surviving rotation and truncation (pump_file.follow);
- with triggers attached (`source.on(trigger)`, as in BSPump), scans once per fire instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal, NamedTuple, TypeVar

from pydantic import Field, field_validator, model_validator

from pump.common.encoding import ErrorHandler, TextEncodingOrNone
from pump.context import NumberedContexts
from pump.delivery import Batch, CommitTracker
from pump.errors import BuildError, ConfigError
from pump.metrics import Counter
from pump.state import StreamPosition
from pump.taskgroup import TaskGroup
from pump.trigger import TriggerSource, TriggerSourceConfig
from pump_file import claims
from pump_file.claims import FileClaim
from pump_file.compression import Compression, ShorterThanPosition, compression_of, open_binary
from pump_file.discovery import FileFinder, Order, as_list
from pump_file.follow import Follower
from pump_file.positions import Position, PositionStore

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)

T = TypeVar("T")

#: Opens the file being read at a position of its (decompressed) content.
Opener = Callable[[int], BinaryIO]


class FileSourceConfig(TriggerSourceConfig):
    """Settings every file source has."""

    path: str | list[str] = Field(
        "",
        description="Glob pattern(s) of the files to read; `**` matches any depth",
        examples=["inbox/*.csv", "logs/**/*.log.gz", ["a/*.jsonl", "b/*.jsonl"]],
    )
    include: str | list[str] = Field(
        [], description="Only files matching one of these patterns (name, or path if it has a /)"
    )
    exclude: str | list[str] = Field([], description="Skip files matching one of these patterns")
    encoding: TextEncodingOrNone = Field(
        "utf-8", description="Text encoding of the files ('': bytes, where the source allows it)"
    )
    encoding_errors: ErrorHandler = Field(
        "strict", description="Undecodable bytes: strict (the file fails), replace, ignore, ..."
    )
    compression: Compression = Field(
        "auto", description="auto (.gz, .bz2, .xz by extension), none, gzip, bz2, xz"
    )
    batch_size: int = Field(1024, gt=0, description="Most events handed over at once")
    read_size: int = Field(1 << 20, gt=0, description="Bytes read from a file at a time")
    max_line_length: int = Field(
        64 << 20, gt=0, description="Longest line accepted, bytes; a longer one fails the file"
    )
    order: Order = Field("name", description="Order files are read in: name or mtime")
    scan_interval: float = Field(
        0.0,
        ge=0,
        description="Seconds between scans for new files; 0: read what is there, then finish "
        "(in follow mode: rescan every second)",
    )
    lock: bool = Field(
        True, description="Rename a file with locked_suffix while it is read (BSPump's -locked)"
    )
    locked_suffix: str = Field("-locked", min_length=1, description="Suffix of a file being read")
    processed_suffix: str = Field(
        "-processed", min_length=1, description="Suffix of a done file (post_process: rename)"
    )
    failed_suffix: str = Field(
        "-failed", min_length=1, description="Suffix of a file that could not be read"
    )
    post_process: Literal["rename", "keep", "move", "delete"] = Field(
        "rename",
        description="A done file is: rename (add processed_suffix), keep (left as it is, not "
        "read again unless it changes), move (into move_to), delete",
    )
    move_to: str = Field("", description="Folder done files are moved into (post_process: move)")
    post: Literal["", "move", "noop", "delete"] = Field(
        "",
        description="BSPump's key for post_process: move (= rename, adds processed_suffix), "
        "noop (= keep), delete",
    )
    on_reject: Literal["retry", "fail"] = Field(
        "retry",
        description="A file with a rejected batch is: retry (read again from its saved position "
        "by the next run), fail (renamed with failed_suffix)",
    )
    on_no_files: Literal["warn", "fail"] = Field(
        "warn",
        description="A run that finds nothing to read (no such folder, no match, every file "
        "already processed): warn (logged and counted in the warnings), fail (the pipeline "
        "stops with an error). A watching or following source only warns, once",
    )
    position_dir: str = Field(
        "", description="Folder of the saved read positions (default: next to each file)"
    )
    position_interval: float = Field(
        1.0, gt=0, description="Seconds between saves of the read positions"
    )
    follow: bool = Field(
        False, description="Tail the files (like tail -F): wait for more lines, follow rotation"
    )
    follow_interval: float = Field(
        0.25, gt=0, description="Seconds between checks of a followed file for more data"
    )
    start_at: Literal["beginning", "end"] = Field(
        "beginning",
        description="In follow mode, where a file never seen before is read from",
    )

    @model_validator(mode="before")
    @classmethod
    def _bspump_post(cls, data: Any) -> Any:
        # BSPump's `post` sets post_process unless that is given too (then __init__ checks them)
        post = data.get("post") if isinstance(data, Mapping) else None
        if post in BSPUMP_POST and "post_process" not in data:
            data = {**data, "post_process": BSPUMP_POST[post]}
        return data

    @field_validator("path")
    @classmethod
    def _some_path(cls, value: str | list[str]) -> str | list[str]:
        if not as_list(value):
            raise ValueError("give the file(s) to read: a path or glob pattern, or a list of them")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FileSourceConfig:
        if self.post_process == "move" and not self.move_to:
            raise ValueError("post_process 'move' needs move_to (the folder to move files into)")
        suffixes = [self.locked_suffix, self.processed_suffix, self.failed_suffix]
        if len(set(suffixes)) != 3:
            raise ValueError(
                f"locked_suffix, processed_suffix and failed_suffix must differ, got {suffixes!r}"
            )
        return self


class NoFilesFound(Exception):
    """A file source found nothing to read (raised into the pipeline with `on_no_files: fail`)."""


#: BSPump's `post` values → post_process.
BSPUMP_POST = {"move": "rename", "noop": "keep", "delete": "delete"}


class Chunk(NamedTuple):
    """One batch parsed from a file."""

    events: list[Any]
    contexts: Sequence[dict[str, Any]]
    #: Position just after the batch (byte offset, or item count) and the line/item there.
    end: int
    line: int
    #: Events that could not be decoded (index → error), for the pipeline's error policy.
    errors: dict[int, BaseException] | None = None


class Reading:
    """Parses one file, in a worker thread when it must read; `next_batch` returns the next
    batch or None."""

    #: The file's path, and the stream read (follow mode checks it for truncation).
    path: str
    stream: BinaryIO | None = None

    def contexts(self, numbers: Sequence[int], field: str = "file_line") -> NumberedContexts:
        """One context per event: the file's path and the event's line (or item) number."""
        return NumberedContexts({"file_path": self.path}, field, numbers)

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        """Up to `limit` events; None when no complete event is available.

        With `final` the file is over (not followed, or rotated away): hand out everything.
        """
        raise NotImplementedError

    def buffered(self, limit: int) -> bool:
        """True when `next_batch(limit, ...)` can be served from memory, without reading (it
        may then hand out fewer than `limit` events: those read already)."""
        return False

    def flush(self) -> Chunk | None:
        """Events held back for more input (a multi-line event), handed out now."""
        return None

    def rewind_point(self) -> int:
        """Stream position the reading has consumed (for truncation checks)."""
        return self.stream.tell() if self.stream is not None else 0

    def close(self) -> None:
        """Close the stream."""
        if self.stream is not None:
            self.stream.close()


def stream_name(claim: FileClaim) -> str:
    """A file as a stream of positions for state: its path and identity (a new file of the
    same name is another stream)."""
    return f"{claim.path}@{claim.dev}:{claim.ino}"


class FileSource(TriggerSource):
    """Reads files matching `path`, hands their events over in batches, loses no line.

    Without a trigger it reads what it finds (every `scan_interval` if set); with triggers
    (`source.on(pump.trigger.RunOnceTrigger(app))`, BSPump's way) it scans once per fire.

    Every context carries `file_path` (the file's original path); line-based sources add
    `file_line`. See the package README for the file lifecycle and the delivery guarantees.
    """

    ConfigModel = FileSourceConfig
    Config: FileSourceConfig
    #: Whether this kind of source can follow growing files (whole-file sources cannot).
    can_follow: ClassVar[bool] = True
    #: Whether events can be text in encodings that are not ASCII-compatible.
    needs_ascii_compatible: ClassVar[bool] = True

    files_done = Counter("Files completely read, done and post-processed")
    files_failed = Counter("Files set aside as failed")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        c = self.Config
        problems = []
        if c.follow and not self.can_follow:
            problems.append(
                f"key 'follow': {type(self).__name__} reads whole files and cannot follow them"
            )
        if c.post and c.post_process != BSPUMP_POST[c.post]:
            problems.append(
                f"key 'post': '{c.post}' (BSPump's key) means post_process "
                f"'{BSPUMP_POST[c.post]}', which contradicts post_process '{c.post_process}'"
            )
        if self.needs_ascii_compatible and c.encoding:
            from pump_file.lines import ascii_compatible

            if not ascii_compatible(c.encoding):
                problems.append(
                    f"key 'encoding': '{c.encoding}' is not ASCII-compatible (lines are split on "
                    "the byte \\n); convert the files to UTF-8 first"
                )
        if problems:
            raise ConfigError(self.location(), problems)
        self.Finder = FileFinder(
            as_list(c.path),
            as_list(c.include),
            as_list(c.exclude),
            (c.locked_suffix, c.processed_suffix, c.failed_suffix),
            c.order,
        )
        self.Positions = PositionStore(f"{pipeline.Id}.{self.Id}", c.position_dir)
        self._tracker = CommitTracker()
        self._claims: dict[int, FileClaim] = {}
        self._finishing = TaskGroup(self.location())  # post-processing of done files
        self._saver: asyncio.Task[None] | None = None
        self._io_lock = asyncio.Lock()
        self._nothing_reported = False

    # -- the parser hook ----------------------------------------------------------------------

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        """A Reading of `claim` from `offset` (line `line`); runs in a worker thread."""
        raise NotImplementedError(f"{self.location()} does not implement open_reading()")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.Triggers and self.Config.follow:
            raise BuildError(f"{self.location()}: a followed source cannot also run on triggers")
        self._saver = asyncio.get_running_loop().create_task(self._save_periodically())

    async def stop(self) -> None:
        """Save the positions, finish post-processing, give back files not done."""
        saver, self._saver = self._saver, None
        if saver is not None:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
        await self._finishing.drain()
        await self.save_positions()
        unfinished = [c for c in self._claims.values() if not c.finished]
        self._claims.clear()
        if unfinished:
            await self._thread(self._give_back, unfinished)

    def _give_back(self, unfinished: list[FileClaim]) -> None:
        """At stop: set failed files aside; give the others back for the next run."""
        for claim in unfinished:
            if claim.fd is None:
                continue
            try:
                if claim.failure is not None:
                    self._post_process(claim)
                    claims.release(claim)
                else:
                    claims.unlock_in_place(claim)
            except OSError as exc:
                L.warning("%s: %s: could not release: %s", self.location(), claim.current, exc)

    async def main(self) -> None:
        """Read every file found (until no new one appears), or keep watching/following; with
        triggers, scan once per fire until the triggers are done."""
        if self.Triggers:
            await super().main()
            return
        if self.Config.follow:
            await Follower(self).run()
            return
        interval = self.Config.scan_interval
        claimed_any = False
        while True:
            claimed = await self._scan()
            if not claimed_any and not claimed:
                await self.nothing_found(final=interval <= 0)
            claimed_any = claimed_any or claimed > 0
            if interval > 0:
                await asyncio.sleep(interval)
            elif claimed == 0:
                break
        # Everything is handed over. Files are post-processed as their last batches are done;
        # waiting for that here could deadlock a pipeline that holds events until its sources
        # end (an aggregator), and stop() finishes what is still pending.

    async def cycle(self) -> None:
        """One scan, run when a trigger fires: read every file found now."""
        if not await self._scan():
            await self.nothing_found(final=self._exhausted())

    async def _scan(self) -> int:
        """Claim and read every file found now; returns how many were claimed."""
        claimed = 0
        for path, orphan in await self._thread(self._candidates):
            claim = await self._thread(self._claim, path, orphan, on_cancel=self._adopt)
            if claim is None:
                continue
            claimed += 1
            await self._read(claim)
        return claimed

    async def nothing_found(self, final: bool) -> None:
        """Say why there is nothing to read, once; with `final` (the source ends) see `on_no_files`.

        A watching or following source (not `final`) warns only about a missing folder: files
        may come later, but not into a folder that does not exist.
        """
        if self._nothing_reported:
            return
        self._nothing_reported = True
        reasons = await self._thread(self._why_nothing, final)
        if not reasons:
            return
        if final and self.Config.on_no_files == "fail":
            exc = NoFilesFound(f"nothing to read: {reasons}")
            self.Pipeline.report_error(self, exc)
            self.Pipeline.set_error(None, None, exc, self)
            return
        self.counters.warnings += 1
        self.Pipeline.counters.warnings += 1
        L.warning("%s: nothing to read%s: %s", self.location(), "" if final else " yet", reasons)

    def _why_nothing(self, final: bool) -> str:
        c = self.Config
        set_aside = {
            c.locked_suffix: "being read by another process (locked)",
            c.processed_suffix: "already processed",
            c.failed_suffix: "set aside as failed",
        }
        kept = self._kept_unchanged if c.post_process == "keep" else lambda path: False
        reasons = []
        for pattern in self.Finder.patterns:
            reason = self.Finder.why_nothing(pattern, set_aside, kept)
            if final or reason.startswith("no such folder"):
                reasons.append(f"path '{pattern}': {reason}")
        return "; ".join(reasons)

    # -- finding and claiming (worker thread) -------------------------------------------------

    def _candidates(self) -> list[tuple[str, bool]]:
        c = self.Config
        found: list[tuple[str, bool]] = []
        if c.lock:
            found += [(p, True) for p in self.Finder.find_suffixed(c.locked_suffix)]
        for path in self.Finder.find():
            if c.post_process == "keep" and self._kept_unchanged(path):
                continue
            found.append((path, False))
        return found

    def _kept_unchanged(self, path: str) -> bool:
        position = self.Positions.load(path)
        if position is None or not position.complete:
            return False
        try:
            return position.unchanged(os.stat(path))
        except FileNotFoundError:
            return True

    def _claim(self, path: str, orphan: bool) -> FileClaim | None:
        c = self.Config
        try:
            if orphan:
                claim = claims.claim_orphan(path, c.locked_suffix)
            else:
                claim = claims.claim(path, c.locked_suffix, rename=c.lock)
        except OSError as exc:
            L.error("%s: cannot claim %s: %s", self.location(), path, exc)
            return None
        if claim is None:
            return None
        position = self.Positions.load(claim.path)
        if position is not None and position.ino == claim.ino and position.dev == claim.dev:
            if position.complete and c.post_process == "keep":
                st = os.stat(claim.current)
                if position.unchanged(st):
                    claims.unlock_in_place(claim)
                    return None
            claim.start_at(position.offset, position.line)
            if orphan or position.offset:
                L.info(
                    "%s: resuming %s at position %d (line %d)",
                    self.location(),
                    claim.path,
                    position.offset,
                    position.line,
                )
        return claim

    def _adopt(self, claim: FileClaim | None) -> None:
        """A claim made while main() was being cancelled: `stop()` gives it back."""
        if claim is not None:
            self._claims[claim.key] = claim

    # -- reading ------------------------------------------------------------------------------

    def _opener(self, claim: FileClaim) -> Opener:
        codec = compression_of(claim.path, self.Config.compression)
        return functools.partial(open_binary, claim.current, codec)

    def _open(self, claim: FileClaim) -> Reading:
        opener = self._opener(claim)
        try:
            return self.open_reading(claim, opener, claim.emitted, claim.emitted_line)
        except ShorterThanPosition as exc:
            L.warning("%s: %s; reading it again from the start", self.location(), exc)
            claim.start_at(0, 1)
            return self.open_reading(claim, opener, 0, 1)

    async def _read(self, claim: FileClaim) -> None:
        self._claims[claim.key] = claim
        try:
            reading = await self._thread(self._open, claim, on_cancel=Reading.close)
            try:
                await self._pump(claim, reading, final=True)
            finally:
                reading.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # counted by the pipeline too, so run summaries and metrics show it
            self.Pipeline.report_error(self, exc)
            claim.failure = f"{type(exc).__name__}: {exc}"
            L.error(
                "%s: %s cannot be read past position %d: %s",
                self.location(),
                claim.path,
                claim.emitted,
                claim.failure,
            )
        claim.reading_done = True
        self._settle(claim)

    async def _pump(self, claim: FileClaim, reading: Reading, final: bool) -> bool:
        """Hand over batches until the reading has no more; False if nothing was available."""
        limit = self.Config.batch_size
        any_data = False
        while not claim.rejected:
            if reading.buffered(limit):  # no file I/O: not worth a trip to a worker thread
                chunk = reading.next_batch(limit, final)
            else:
                chunk = await self._thread(reading.next_batch, limit, final)
            if chunk is None:
                break
            any_data = True
            await self._hand_over(claim, chunk)
        return any_data

    async def _hand_over(self, claim: FileClaim, chunk: Chunk) -> None:
        """Register the batch's range, then emit it (registered first: it may be done at once)."""
        events, contexts, end, line = chunk.events, chunk.contexts, chunk.end, chunk.line
        # Wait first, so a batch is registered only when it can be handed over right away.
        await self.Pipeline.ready()
        handle = self._tracker.begin(claim.key, claim.emitted, end - 1)
        claim.ends.append((end, line))
        claim.emitted, claim.emitted_line = end, line
        claim.in_flight += 1
        if not events:  # e.g. only blank lines: nothing to wait for
            self._done(claim, handle)
            return
        await self.emit(events, contexts=contexts, token=(claim, handle), errors=chunk.errors)

    # -- positions for state ------------------------------------------------------------------

    def stream_position(
        self, batch: Batch, contexts: Sequence[dict[str, Any]]
    ) -> StreamPosition | None:
        """The file (by path and identity) and the batch's first and last line (or item).

        Files are not partitions: every file's events share one state partition, "".
        """
        claim, _ = batch.token
        first, last = contexts[0], contexts[-1]
        field = "file_line" if "file_line" in first else "file_item"
        start, end = first.get(field), last.get(field)
        if start is None or end is None:
            return None  # a whole-file event, or a generator's children
        return StreamPosition("", stream_name(claim), start, end, field)

    # -- acknowledgement ------------------------------------------------------------------------

    def acknowledge(self, batch: Batch) -> None:
        """Every event of the batch is done: the file's position may advance over it."""
        claim, handle = batch.token
        self._done(claim, handle)

    def _done(self, claim: FileClaim, handle: list[Any]) -> None:
        tracker = self._tracker
        tracker.end(handle)
        claim.in_flight -= 1
        position = tracker.position(claim.key)
        if position is not None and position > claim.acked:
            ends = claim.ends
            i = 0
            while i < len(ends) and ends[i][0] <= position:
                i += 1
            claim.acked, claim.acked_line = position, ends[i - 1][1]
            del ends[:i]
            claim.dirty = True
        self._settle(claim)

    def reject(self, batch: Batch) -> None:
        """A batch failed: the file's position never advances past it; see `on_reject`."""
        claim, _ = batch.token
        claim.in_flight -= 1
        claim.rejected = True
        pipeline = self.Pipeline
        if self.Config.on_reject == "fail" and pipeline.is_error() and claim.failure is None:
            error = pipeline.error.as_dict()["error"] if pipeline.error is not None else "an error"
            claim.failure = f"a batch was rejected ({error})"
        self._settle(claim)

    def _settle(self, claim: FileClaim) -> None:
        """Finish a file whose reading is over and whose batches are all settled."""
        if claim.finished or not claim.reading_done or claim.in_flight:
            return
        if claim.extra.get("followed"):
            if not claim.rejected and claim.acked >= claim.emitted:
                self._claims.pop(claim.key, None)
                self._tracker.forget(claim.key)
                self.Pipeline.forget_stream(stream_name(claim))
            return
        if claim.failure is None and claim.rejected:
            return  # stays claimed; given back at stop and read again from its position
        claim.finished = True
        self._finishing.spawn(self._finish(claim))

    async def _finish(self, claim: FileClaim) -> None:
        async with self._io_lock:
            try:
                await self._thread(self._post_process, claim)
            except Exception as exc:
                L.error("%s: %s: post-processing failed: %s", self.location(), claim.current, exc)
            finally:
                claims.release(claim)
        self._claims.pop(claim.key, None)
        self._tracker.forget(claim.key)
        if claim.failure is None:  # never read again: state needs its position no more
            self.Pipeline.forget_stream(stream_name(claim))

    def _post_process(self, claim: FileClaim) -> None:
        c = self.Config
        if claim.failure is not None:
            # The position stays: a file renamed back after a fix resumes where it failed.
            self.Positions.save(claim.path, self._position(claim))
            target = claims.set_aside(claim, c.failed_suffix)
            self.files_failed += 1
            L.error(
                "%s: %s set aside as %s: %s", self.location(), claim.path, target, claim.failure
            )
            return
        action = c.post_process
        if action == "keep":
            st = os.stat(claim.current)
            position = self._position(claim)
            position.size, position.mtime_ns, position.complete = st.st_size, st.st_mtime_ns, True
            self.Positions.save(claim.path, position)
            claims.unlock_in_place(claim)
        elif action == "rename":
            claims.set_aside(claim, c.processed_suffix)
            self.Positions.remove(claim.path)
        elif action == "move":
            claims.move_to(claim, c.move_to)
            self.Positions.remove(claim.path)
        else:
            # position first: were the file's inode reused by a new file of the same name, a
            # stale position could otherwise skip the new file's beginning
            self.Positions.remove(claim.path)
            claims.delete(claim)
        self.files_done += 1

    # -- positions ------------------------------------------------------------------------------

    @staticmethod
    def _position(claim: FileClaim) -> Position:
        return Position(claim.acked, claim.acked_line, claim.ino, claim.dev)

    async def _save_periodically(self) -> None:
        interval = self.Config.position_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.save_positions()
            except Exception:
                L.exception("%s: saving read positions failed", self.location())

    async def save_positions(self) -> None:
        """Write the positions that advanced since the last save."""
        async with self._io_lock:
            records = []
            for claim in self._claims.values():
                if not claim.dirty or claim.finished:
                    continue
                if claim.extra.get("followed") and claim.reading_done:
                    continue  # rotated away: the path's position belongs to the new file now
                claim.dirty = False
                records.append((claim, self._position(claim)))
            if records:
                failed = await self._thread(self._save_all, records)
                for claim in failed:
                    claim.dirty = True

    def _save_all(self, records: list[tuple[FileClaim, Position]]) -> list[FileClaim]:
        failed = []
        for claim, position in records:
            try:
                self.Positions.save(claim.path, position)
            except OSError as exc:
                failed.append(claim)
                L.warning(
                    "%s: %s: cannot save the read position: %s", self.location(), claim.path, exc
                )
        return failed

    # -- threads --------------------------------------------------------------------------------

    @staticmethod
    async def _thread(
        fn: Callable[..., T], *args: Any, on_cancel: Callable[[T], Any] | None = None
    ) -> T:
        """Run blocking file work in a worker thread; on cancellation, let it finish first.

        `on_cancel(result)` takes care of what the thread made if nobody is left to (a claimed
        file, an open stream).
        """
        future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # the thread cannot be interrupted: wait, so nothing it uses is closed under it
            with contextlib.suppress(BaseException):
                await asyncio.wait([future])
            if (
                on_cancel is not None
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                on_cancel(future.result())
            raise
