"""DataFrameSource: files read a chunk at a time into DataFrames, in pump-file's file lifecycle.

The finding, claiming (`-locked`), saved positions, acknowledgement and post-processing
(`-processed`, `-failed`) are pump-file's `FileSource`; this module adds the frame readings: a
reader gives chunks of at most `chunk_rows` rows, each handed over as one DataFrame event
(`emit: frames`) or as one dict event per row (`emit: rows`). The saved position counts rows
(or bytes, for JSON Lines) done, so a restart resumes at the first chunk not done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd
from pydantic import Field

from pump.delivery import Batch
from pump.metrics import Counter
from pump_file.claims import FileClaim
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading
from pump_pandas.frames import FrameBuilder, FrameConfig, frame_rows
from pump_pandas.readahead import ReadAhead

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class DataFrameSourceConfig(FileSourceConfig, FrameConfig):
    """Settings every DataFrame file source has."""

    emit: Literal["frames", "rows"] = Field(
        "frames",
        description="frames: each chunk is one DataFrame event; rows: one dict event per row "
        "(in batches of batch_size)",
    )
    chunk_rows: int = Field(65536, gt=0, description="Rows read at a time: the rows of one frame")
    max_frames_in_flight: int = Field(
        4,
        gt=0,
        description="Frames handed over and not yet done before reading waits (emit: frames; "
        "with chunk_rows it bounds the rows in memory: about chunk_rows × (this + 2), one "
        "chunk being read ahead)",
    )


class FrameChunk:
    """A chunk a reader parsed: its frame, where it starts and ends (rows or bytes), and rows
    that could not be parsed (raw input and error, for the error policy)."""

    __slots__ = ("bad", "end", "first_row", "frame", "line", "rows")

    def __init__(
        self,
        frame: pd.DataFrame,
        first_row: int,
        end: int,
        bad: list[tuple[int, Any, BaseException]] | None = None,
        line: int | None = None,
    ) -> None:
        self.frame = frame
        #: Index of the frame's first row in the file.
        self.first_row = first_row
        #: The position just after the chunk (rows, or bytes), and the line number there.
        self.end = end
        self.line = end if line is None else line
        #: (line, raw input, error) of each row that could not be parsed.
        self.bad = bad or []
        #: The frame's rows as dicts (emit: rows), made in the reading thread.
        self.rows: list[dict[str, Any]] | None = None


class FrameReading(Reading):
    """Hands out a reader's chunks as frame events, or their rows as dict events."""

    def __init__(
        self,
        path: str,
        chunks: Iterator[FrameChunk],
        builder: FrameBuilder,
        config: DataFrameSourceConfig,
    ) -> None:
        self.path = path
        self.builder = builder
        self.frames = config.emit == "frames"
        self.chunks = ReadAhead(chunks, self._prepare, f"pump-pandas read {path}")
        # rows mode: the rows of the current chunk not yet handed out
        self._rows: list[dict[str, Any]] = []
        self._next = 0
        self._chunk: FrameChunk | None = None

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        if self.frames:
            return self._next_frame()
        return self._next_rows(limit)

    def _prepare(self, chunk: FrameChunk) -> FrameChunk:
        """The chunk made ready to hand out (in the reading thread)."""
        chunk.frame = self.builder.typed(chunk.frame)
        if not self.frames:
            chunk.rows = frame_rows(chunk.frame)
        return chunk

    def _read(self) -> FrameChunk | None:
        return next(self.chunks, None)

    def _next_frame(self) -> Chunk | None:
        chunk = self._read()
        if chunk is None:
            return None
        rows = len(chunk.frame)
        events: list[Any] = [chunk.frame] if rows else []
        contexts = (
            [{"file_path": self.path, "file_row": chunk.first_row, "frame_rows": rows}]
            if rows
            else []
        )
        errors = self._bad(chunk, events, contexts)
        return Chunk(events, contexts, chunk.end, chunk.line, errors)

    def _next_rows(self, limit: int) -> Chunk | None:
        if self._chunk is None or self._next >= len(self._rows):
            chunk = self._read()
            if chunk is None:
                return None
            self._chunk, self._rows, self._next = chunk, chunk.rows or [], 0
            if not self._rows:
                events: list[Any] = []
                contexts: list[dict[str, Any]] = []
                errors = self._bad(chunk, events, contexts)
                return Chunk(events, contexts, chunk.end, chunk.line, errors)
        chunk = self._chunk
        start = self._next
        stop = self._next = min(len(self._rows), start + limit)
        events = self._rows[start:stop]
        first, path = chunk.first_row + start, self.path
        contexts = [{"file_path": path, "file_row": i} for i in range(first, first + len(events))]
        errors = None
        if stop < len(self._rows):
            # positions count rows here (readers that count bytes read chunks of one batch)
            end = line = first + len(events)
        else:
            end, line, errors = chunk.end, chunk.line, self._bad(chunk, events, contexts)
        return Chunk(events, contexts, end, line, errors)

    def _bad(
        self, chunk: FrameChunk, events: list[Any], contexts: list[dict[str, Any]]
    ) -> dict[int, BaseException] | None:
        """Append the chunk's unparsable rows as events failed at the source."""
        if not chunk.bad:
            return None
        errors: dict[int, BaseException] = {}
        for line, raw, error in chunk.bad:
            errors[len(events)] = error
            events.append(raw)
            contexts.append({"file_path": self.path, "file_line": line})
        return errors

    def close(self) -> None:
        self.chunks.close()
        super().close()


class DataFrameSource(FileSource):
    """Reads files a chunk of rows at a time into DataFrames (see the package README).

    Subclasses give `chunks(claim, opener, offset)`: frames of at most `chunk_rows` rows from
    position `offset` on, each with where it ends. Contexts carry `file_path` and `file_row`
    (the first row's index in the file), and for frames `frame_rows`.
    """

    ConfigModel = DataFrameSourceConfig
    Config: DataFrameSourceConfig
    can_follow: ClassVar[bool] = False
    needs_ascii_compatible: ClassVar[bool] = False
    #: True when the saved position counts rows (False: bytes, as for JSON Lines).
    row_positions: ClassVar[bool] = True

    frames_out = Counter("DataFrames handed over (emit: frames)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Builder = FrameBuilder(self.Config)
        self._room: asyncio.Semaphore | None = None

    def chunks(
        self, claim: FileClaim, opener: Opener, offset: int, line: int
    ) -> Iterator[FrameChunk]:
        """Chunks of the file from position `offset` (line `line`) on, in a worker thread."""
        raise NotImplementedError(f"{self.location()} does not implement chunks()")

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        chunks = self.chunks(claim, opener, offset, line)
        return FrameReading(claim.path, chunks, self.Builder, self.Config)

    def chunk_size(self) -> int:
        """Rows read at a time: `chunk_rows` (a reader whose position counts bytes reads one
        batch at a time with `emit: rows`, as its position cannot point inside a chunk)."""
        c = self.Config
        return c.batch_size if c.emit == "rows" and not self.row_positions else c.chunk_rows

    async def emit(
        self,
        events: list[Any],
        context: Mapping[str, Any] | None = None,
        *,
        contexts: Sequence[dict[str, Any]] | None = None,
        token: Any = None,
        errors: Mapping[int, BaseException] | None = None,
    ) -> Batch | None:
        """Hand a batch over; with frames, first wait for room among `max_frames_in_flight`."""
        if self.Config.emit != "frames":
            return await super().emit(
                events, context, contexts=contexts, token=token, errors=errors
            )
        room = self._room
        if room is None:
            room = self._room = asyncio.Semaphore(self.Config.max_frames_in_flight)
        if room.locked():
            # out of room: the pipeline is full of frames; saying so lets a sink that holds
            # them (a Parquet file not yet finished) finish its files instead of waiting
            self.Pipeline.throttle(self, True)
            try:
                await room.acquire()
            finally:
                self.Pipeline.throttle(self, False)
        else:
            await room.acquire()
        try:
            batch = await super().emit(
                events, context, contexts=contexts, token=token, errors=errors
            )
        except BaseException:
            room.release()
            raise
        if batch is None:
            room.release()
        else:
            self.frames_out += 1
        return batch

    def acknowledge(self, batch: Batch) -> None:
        """The batch is done: its position may advance; its frame's room is free again."""
        super().acknowledge(batch)
        self._free()

    def reject(self, batch: Batch) -> None:
        """The batch failed: its position stays; its frame's room is free again."""
        super().reject(batch)
        self._free()

    def _free(self) -> None:
        if self._room is not None and self.Config.emit == "frames":
            self._room.release()
