"""ParquetSink: DataFrames (or dict events) into Parquet files, acknowledged once published.

A Parquet file is readable only once its footer is written, so nothing in a file being written
is durable: a write's awaitable completes when every file that took its rows is finished and
published (written under a temporary name, fsynced, renamed — pump-file's output parts). Files
are finished by rows, size, age or idleness, and whenever the pipeline waits on them: its
sources are done, it drains, or it is full (the bound counts what the open files hold). So a
file holds at most what the pipeline has in flight.

Rows of frames read by a pandas source carry their origin (file and rows); a published file
records the origins it holds in its metadata (`pump.origins`), and with `skip_written` a
restarted sink acknowledges, without writing them again, rows its published files already
hold: after a crash each row is in the output once.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from pump.errors import PartialWriteError, PermanentWriteError
from pump.metrics import Counter
from pump_file import parts
from pump_file.output import OutputConfig, QueuedOutputSink, QueuedWrite
from pump_file.parts import Part
from pump_file.template import TemplateError, safe
from pump_pandas.arrow import ARROW_ERRORS, rows_table, table_of

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger(__name__)

Compression = Literal["snappy", "zstd", "gzip", "brotli", "lz4", "none"]

#: The key of a published file's metadata listing the input rows it holds.
ORIGINS_KEY = b"pump.origins"
#: A partition directory's value for null (as Hive and Spark write it).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


class ParquetSinkConfig(OutputConfig):
    """Settings of the Parquet sink."""

    path: str = Field(
        "",
        description="Path template: {date:%Y-%m-%d}, {n} (part number), {pipeline}, {sink}, "
        "{host}, {pid}, context keys {context[key]}",
        examples=["out/{date:%Y-%m-%d}/part-{n:05d}.parquet"],
    )
    partition_by: list[str] = Field(
        [],
        description="Columns whose values name folders (col=value/...) before the file name; "
        "each value's rows go into its own files, without those columns",
    )
    compression: Compression = Field("snappy", description="Compression of the column data")
    compression_level: int | None = Field(
        None, description="Level of the compression (zstd, gzip, brotli); none: its default"
    )
    row_group_rows: int = Field(
        131072, gt=0, description="Rows gathered before a row group is written"
    )
    dictionary_pagesize_limit: int = Field(
        256 << 10,
        gt=0,
        description="Bytes a column's dictionary may take in a row group before the column "
        "is written plain (pyarrow's default, 1 MiB, spends much CPU on columns of many "
        "distinct values, in every row group)",
    )
    max_rows: int = Field(
        1_000_000, ge=0, description="Finish a file once it holds this many rows (0: no limit)"
    )
    max_bytes: int = Field(
        0, ge=0, description="Finish a file once it is this large, bytes (0: no limit)"
    )
    max_age: float = Field(
        60.0, ge=0, description="Finish a file this many seconds after it was opened (0: never)"
    )
    close_idle: float = Field(
        5.0, ge=0, description="Finish a file nothing was written to for this many seconds"
    )
    max_open: int = Field(
        64, gt=0, description="Most files open at once; the least recently written is finished"
    )
    fsync: bool = Field(True, description="fsync a file and its folder before acknowledging it")
    skip_written: bool = Field(
        True,
        description="Skip (and acknowledge) rows from a pandas source that a published file "
        "already holds (read from the files' metadata at start): no duplicates after a crash",
    )
    recover: bool = Field(
        True,
        description="On start, remove unfinished files a stopped sink left (nothing in them "
        "was acknowledged)",
    )


class _Item:
    """Rows of one event bound for one file key."""

    __slots__ = ("frame", "index", "key", "label", "members", "origin")

    def __init__(
        self,
        members: list[int],
        key: str,
        label: str,
        frame: pd.DataFrame,
        origin: tuple[str, int, int] | None,
    ) -> None:
        #: The indexes of the events whose rows these are (several: dict events made one frame).
        self.members = members
        self.index = members[0]
        self.key = key
        self.label = label
        self.frame = frame
        self.origin = origin


class _Write(QueuedWrite):
    """One write() call: its items, the files it waits for, and its completion."""

    __slots__ = ("items", "waits_for")

    def __init__(self, items: list[_Item], errors: dict[int, BaseException]) -> None:
        super().__init__(errors)
        self.items = items
        self.waits_for: set[_File] = set()


class _File:
    """One Parquet file being written: its part, writer, buffered tables and waiting writes."""

    def __init__(self, part: Part, label: str, fsync: bool) -> None:
        self.part = part
        self.label = label
        self.stream = io.FileIO(part.fd, "wb", closefd=False) if part.fd is not None else None
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.buffered: list[pa.Table] = []
        self.buffered_rows = 0
        self.rows = 0
        self.waiting: set[_Write] = set()
        self.origins: list[list[Any]] = []
        self.fsync = fsync


class ParquetSink(QueuedOutputSink[_Write]):
    """Writes DataFrame events (and dict events, a row each) into Parquet files.

    Paths come from a template; `partition_by` adds `column=value` folders. Each write is done
    once every file holding its rows is published (see the module docstring): a file is never
    seen under its final name half written, and a crash leaves only temporary files, removed
    at the next start. A frame that Arrow cannot store fails alone and for good
    (`PermanentWriteError`, to the error policy); a full disk fails the write, which is retried.
    """

    ConfigModel = ParquetSinkConfig
    Config: ParquetSinkConfig

    files_published = Counter("Parquet files finished and published")
    rows_written = Counter("Rows written into Parquet files")
    rows_skipped = Counter("Rows skipped: a published file already held them (skip_written)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._files: dict[str, _File] = {}  # open files by key; touched by the writer only
        self._written: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._watching = False

    def template_path(self) -> str:
        """`path` with a `column={value}` folder per partition column before the file name."""
        c = self.Config
        head, tail = os.path.split(c.path)
        folders = [
            f"{column.replace('{', '{{').replace('}', '}}')}={{__p{i}}}"
            for i, column in enumerate(c.partition_by)
        ]
        return os.path.join(head, *folders, tail) if folders else c.path

    # -- write (event loop) ---------------------------------------------------------------

    def write(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        """Queue the events' rows; the awaitable completes once their files are published."""
        now = self.Template.now()
        errors: dict[int, BaseException] = {}
        items: list[_Item] = []
        rows: list[int] = []
        for i, event in enumerate(events):
            if isinstance(event, pd.DataFrame):
                self._items(i, event, contexts[i] if i < len(contexts) else {}, now, items, errors)
            elif isinstance(event, Mapping):
                rows.append(i)
            else:
                errors[i] = PermanentWriteError(
                    f"{self.location()}: a Parquet row is made from a DataFrame or a dict "
                    f"event, not {type(event).__name__}"
                )
        if rows:
            try:
                frame = pd.DataFrame([events[i] for i in rows])
            except Exception as exc:
                for i in rows:
                    errors[i] = PermanentWriteError.wrap(self.location(), exc)
            else:
                context = contexts[rows[0]] if contexts else {}
                self._items(rows[0], frame, context, now, items, errors, members=rows)
        if errors and len(errors) == len(events):
            raise errors[min(errors)] if len(errors) == 1 else PartialWriteError(errors)
        # the pipeline's sources run by now: wake the writer when one ends (see _finish_now)
        self._watching = self._watching or self._watch_sources()
        return self._enqueue(_Write(items, errors))

    def _items(
        self,
        index: int,
        frame: pd.DataFrame,
        context: Mapping[str, Any],
        now: Any,
        items: list[_Item],
        errors: dict[int, BaseException],
        members: list[int] | None = None,
    ) -> None:
        """The items of one frame (one per partition), or its error."""
        origin = None
        if members is None and "file_path" in context and "frame_rows" in context:
            first = int(context.get("file_row", 0))
            origin = (str(context["file_path"]), first, first + int(context["frame_rows"]))
        try:
            made = []
            for label, values, part in self._partitions(frame):
                # rows of dict events: the frame's index is each row's position in `members`
                own = [index] if members is None else [members[j] for j in part.index]
                made.append(
                    _Item(own, self.Template.key(now, values, context), label, part, origin)
                )
        except (KeyError, TemplateError) as exc:
            error = PermanentWriteError.wrap(self.location(), exc)
            for i in members or [index]:
                errors[i] = error
            return
        items.extend(made)

    def _partitions(self, frame: pd.DataFrame) -> list[tuple[str, dict[str, Any], pd.DataFrame]]:
        columns = self.Config.partition_by
        if not columns:
            return [("", {}, frame)] if len(frame) else []
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise KeyError(f"the frame has no partition column(s) {missing}")
        out = []
        for values, part in frame.groupby(columns, sort=False, dropna=False, observed=True):
            named = values if isinstance(values, tuple) else (values,)
            shown = [NULL_PARTITION if pd.isna(v) else safe(str(v)) for v in named]
            label = "/".join(f"{c}={v}" for c, v in zip(columns, shown, strict=True))
            fields = {f"__p{i}": v for i, v in enumerate(shown)}
            out.append((label, fields, part.drop(columns=columns)))
        return out

    # -- the writer task --------------------------------------------------------------------

    async def start(self) -> None:
        """Remove unfinished files of a previous run, read what published files hold."""
        self._watching = False  # this run's source tasks: watched from the first write on
        await super().start()

    def _has_open(self) -> bool:
        return bool(self._files)

    def _holds_writes(self) -> bool:
        return bool(self._files)  # a write is done once the files with its rows are published

    def _finish_now(self) -> bool:
        """True when the pipeline waits for what the open files hold: finish them now."""
        pipeline = self.Pipeline
        if self._closing or self._flushing or pipeline is None:
            return True
        return pipeline.draining or not pipeline.is_ready() or pipeline.sources_exhausted()

    def _watch_sources(self) -> bool:
        """Wake the writer when a source of the pipeline ends (its files are then waited on);
        False while the sources' tasks are not there yet (the pipeline is starting)."""
        pipeline = self.Pipeline
        tasks = [source.task for source in pipeline.Sources] if pipeline is not None else []
        if any(task is None for task in tasks):
            return False
        for task in tasks:
            assert task is not None
            task.add_done_callback(lambda _task: self._wake.set())
        return True

    def _settle(self, settled: list[_Write], published: list[str]) -> None:
        self.files_published += len(published)
        super()._settle(settled, published)

    def _tick(self) -> float:
        c = self.Config
        limits = [x for x in (c.close_idle, c.max_age) if x > 0]
        return max(0.02, min([0.05, *(x / 4 for x in limits)]))

    # -- worker-thread side -------------------------------------------------------------------

    def _apply(
        self, writes: list[_Write], now: float, finish_all: bool
    ) -> tuple[list[_Write], list[str]]:
        """Write the queued items, finish the files due; the writes settled and files published."""
        settled: list[_Write] = []
        published: list[str] = []
        for w in writes:
            self._write_items(w, now, published, settled)
            if not w.waits_for and w not in settled:
                settled.append(w)
        c = self.Config
        for f in list(self._files.values()):
            age = now - f.part.opened
            idle = now - f.part.written
            size = f.stream.tell() if f.stream is not None else 0
            if (
                finish_all
                or (c.max_age and age >= c.max_age)
                or (c.close_idle and idle >= c.close_idle)
                or (c.max_bytes and size >= c.max_bytes)
            ):
                self._finish(f, published, settled)
        return settled, published

    def _write_items(
        self, w: _Write, now: float, published: list[str], settled: list[_Write]
    ) -> None:
        c = self.Config
        for item in w.items:
            if item.index in w.errors:
                continue
            if c.skip_written and item.origin is not None and self._holds(item):
                self.rows_skipped += len(item.frame)
                continue
            table = self._table(item, w.errors)
            if table is None:
                continue
            try:
                f = self._file_for(item.key, item.label, table, now, published, settled)
                f.buffered.append(table)
                f.buffered_rows += table.num_rows
                f.rows += table.num_rows
                f.part.events += 1
                f.part.written = now
                if item.origin is not None:
                    f.origins.append(list(item.origin))
                f.waiting.add(w)
                w.waits_for.add(f)
                if f.buffered_rows >= c.row_group_rows:
                    self._write_buffered(f)
            except OSError as exc:
                exc.add_note(f"while writing {self.location()}")
                for f in list(w.waits_for):
                    self._abort(f, exc, settled)
                w.failure = exc
                w.waits_for.clear()
                return

    def _table(self, item: _Item, errors: dict[int, BaseException]) -> pa.Table | None:
        """The item's rows as a table; the events whose rows Arrow cannot store fail for good
        (each row of dict events alone, a DataFrame event as a whole)."""
        if len(item.members) == 1:
            try:
                return table_of(item.frame)
            except ARROW_ERRORS as exc:
                errors[item.index] = PermanentWriteError.wrap(self.location(), exc)
                return None
        table, bad = rows_table(item.frame)
        for position, error in bad.items():
            errors[item.members[position]] = PermanentWriteError.wrap(self.location(), error)
        return table

    def _holds(self, item: _Item) -> bool:
        """True when a published file already holds the item's rows."""
        assert item.origin is not None
        path, first, end = item.origin
        ranges = self._written.get((item.label, path), ())
        return any(a <= first and end <= b for a, b in ranges)

    def _file_for(
        self,
        key: str,
        label: str,
        table: pa.Table,
        now: float,
        published: list[str],
        settled: list[_Write],
    ) -> _File:
        c = self.Config
        f = self._files.get(key)
        if f is not None and (
            (c.max_rows and f.rows >= c.max_rows)
            or (f.schema is not None and not f.schema.equals(table.schema))
        ):
            self._finish(f, published, settled)  # full, or rows of another shape: a new file
            f = None
        if f is None:
            if len(self._files) >= c.max_open:
                oldest = min(self._files.values(), key=lambda o: o.part.written)
                self._finish(oldest, published, settled)
            part = self._create_part(key, now)
            f = self._files[key] = _File(part, label, c.fsync)
            f.schema = table.schema
        return f

    def _write_buffered(self, f: _File) -> None:
        if not f.buffered:
            return
        table = f.buffered[0] if len(f.buffered) == 1 else pa.concat_tables(f.buffered)
        if f.writer is None:
            c = self.Config
            f.writer = pq.ParquetWriter(
                f.stream,
                table.schema,
                compression=None if c.compression == "none" else c.compression,
                compression_level=c.compression_level,
                dictionary_pagesize_limit=c.dictionary_pagesize_limit,
            )
        f.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        f.buffered, f.buffered_rows = [], 0

    def _finish(self, f: _File, published: list[str], settled: list[_Write]) -> None:
        """Write the footer and publish the file; the writes waiting only for it are done."""
        if self._files.get(f.part.key) is f:
            del self._files[f.part.key]
        try:
            self._write_buffered(f)
            if f.writer is not None:
                origins = orjson.dumps({"partition": f.label, "origins": f.origins})
                f.writer.add_key_value_metadata({ORIGINS_KEY: origins})
                f.writer.close()
                f.writer = None
            path = parts.publish(f.part, self.Template, f.fsync)
        except OSError as exc:
            exc.add_note(f"while finishing {self.location()}")
            L.error("%s: cannot finish %s: %s", self.location(), f.part.temp, exc)
            self._abort(f, exc, settled)
            return
        if path is not None:
            published.append(path)
            self.rows_written += f.rows
            for path_, first, end in f.origins:
                self._written.setdefault((f.label, path_), []).append((first, end))
        for w in f.waiting:
            w.waits_for.discard(f)
            if not w.waits_for and w not in settled:
                settled.append(w)
        f.waiting.clear()

    def _abort(self, f: _File, exc: BaseException, settled: list[_Write]) -> None:
        """Drop a file that failed: every write with rows in it fails (and is retried)."""
        if self._files.get(f.part.key) is f:
            del self._files[f.part.key]
        with contextlib.suppress(Exception):
            if f.writer is not None:
                f.writer.close()
        parts.discard(f.part)
        for w in f.waiting:
            w.waits_for.discard(f)
            w.failure = w.failure or exc
            if not w.waits_for and w not in settled:
                settled.append(w)
        f.waiting.clear()

    def _recover(self) -> list[str]:
        """Remove unfinished files of a previous run, read what published files hold."""
        c = self.Config
        if c.recover:
            self._remove_unfinished()
        if c.skip_written:
            self._read_origins()
        return []

    def _read_origins(self) -> None:
        """What the published files hold, from their metadata (for `skip_written`)."""
        c = self.Config
        root = self.Template.static_prefix()
        if not os.path.isdir(root):
            return
        for folder, _dirs, names in os.walk(root):
            for name in names:
                if name.startswith(c.temp_prefix) and name.endswith(c.temp_suffix):
                    continue
                path = os.path.join(folder, name)
                rendered = path if root != "." else os.path.relpath(path)
                if not self.Template.matches(os.path.normpath(rendered)):
                    continue
                try:
                    meta = pq.read_metadata(path).metadata or {}
                    held = orjson.loads(meta[ORIGINS_KEY]) if ORIGINS_KEY in meta else None
                except (OSError, pa.ArrowException, orjson.JSONDecodeError) as exc:
                    L.warning("%s: %s: cannot read its metadata: %s", self.location(), path, exc)
                    continue
                if not isinstance(held, dict):
                    continue
                label = str(held.get("partition", ""))
                for origin in held.get("origins", []):
                    source, first, end = origin
                    self._written.setdefault((label, str(source)), []).append((first, end))
