"""InfluxDBSink: events as line protocol; each event is done once the server accepted its batch.

Each event becomes one line (a mapping through the sink's mapping settings; ready-made line
protocol as str or bytes; an `influxdb_client.Point`; BSPump's tuple form). Lines of
consecutive `write()` calls are gathered into requests of at most `batch_max_points` lines and
`batch_max_bytes` characters, sent after `flush_interval` at the latest, `max_concurrent_writes`
at once. A write completes when the server answered 2xx for every line of it.

A refusal about points (400, 422) sends the parts of the request again to find the refused
lines (`pump_influxdb.isolation`): only those events fail, with `PointRejected` (permanent:
the pipeline's error policy gets them at once), the others are done. A busy or failing server
(429, 5xx, no answer) is retried with the connection's backoff, waiting at least what
Retry-After asks, `write_retries` times; then the events fail as a whole and the pipeline's
own retry takes over. A 413 splits the request. Points without a time get the time of writing
from the sink, so that a request sent again writes the same points again.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

import pump
from pump_influxdb.connection import InfluxDBConnection
from pump_influxdb.errors import (
    InfluxDBAuthError,
    InfluxDBError,
    InfluxDBNotFound,
    InfluxDBUnavailable,
    LineProtocolError,
    PointRejected,
)
from pump_influxdb.isolation import Refusal, isolate
from pump_influxdb.lineprotocol import (
    NANOSECONDS,
    LineBuilder,
    Precision,
    bspump_line,
    point_line,
    text_lines,
)

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

#: Statuses of a server that is busy or failing for now.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses of a refusal about the points sent.
POINT_STATUSES = frozenset({400, 422})


class InfluxDBSinkConfig(pump.ComponentConfig):
    """Settings of an InfluxDBSink."""

    measurement: str = Field(
        "",
        description="Measurement of every point (unless measurement_key names one)",
        examples=["cpu"],
    )
    measurement_key: str = Field(
        "", description="Event key (or context.KEY) holding the measurement per event"
    )
    tags: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Event keys (or context.KEY) written as tags; a mapping names them: {tag: key}",
        examples=[["host", "region"]],
    )
    fields: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Event keys (or context.KEY) written as fields; a mapping names them; "
        "empty: every key not used for measurement, tags or time",
    )
    time_key: str = Field(
        "time",
        description="Event key (or context.KEY) holding the time: a number in time_unit, a "
        "datetime or ISO 8601 text; missing: the time of writing",
    )
    time_unit: Precision = Field("s", description="Unit of numeric times in events: ns, us, ms, s")
    precision: Precision = Field(
        "ns", description="Precision of the timestamps written: ns, us, ms, s"
    )
    integers: Literal["integer", "float"] = Field(
        "integer", description="Write int values as integer fields (42i) or as floats (42.0)"
    )
    batch_max_points: int = Field(
        5000, gt=0, le=1_000_000, description="Lines per write request at most"
    )
    batch_max_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        le=256 * 1024 * 1024,
        description="Bytes of line protocol per write request at most (before gzip)",
    )
    flush_interval: float = Field(
        0.1, gt=0, le=3600, description="Seconds a partly filled request waits for more lines"
    )
    max_concurrent_writes: int = Field(
        2, gt=0, le=64, description="Write requests in flight at once"
    )
    write_retries: int = Field(
        5,
        ge=0,
        description="Retries of a request the server answered busy (429/5xx) or did not "
        "answer, before its events fail and the pipeline's retry takes over",
    )
    stop_timeout: float = Field(
        30.0, gt=0, description="Seconds stop() waits for requests in flight"
    )

    @model_validator(mode="after")
    def _mapping(self) -> InfluxDBSinkConfig:
        problems = []
        tag_keys = set(self.tags.values() if isinstance(self.tags, dict) else self.tags)
        field_keys = set(self.fields.values() if isinstance(self.fields, dict) else self.fields)
        if tag_keys & field_keys:
            both = ", ".join(sorted(tag_keys & field_keys))
            problems.append(f"key 'fields': {both} also in 'tags'")
        try:
            self.builder()
        except LineProtocolError as exc:
            key = (
                "measurement"
                if "measurement" in str(exc)
                else ("fields" if "field" in str(exc) else "tags")
            )
            problems.append(f"key {key!r}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def builder(self) -> LineBuilder:
        """The LineBuilder of these mapping settings."""
        return LineBuilder(
            measurement=self.measurement,
            measurement_key=self.measurement_key,
            tags=self.tags,
            fields=self.fields,
            time_key=self.time_key,
            time_unit=self.time_unit,
            precision=self.precision,
            integers=self.integers,
        )


class _Write:
    """One `write()` call: the future the pipeline awaits, and its events' failures."""

    __slots__ = ("failures", "future", "pending")

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future
        self.failures: dict[int, BaseException] = {}
        self.pending = 1  # released at the end of write(), once every line is queued

    def done(self) -> None:
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            if self.failures:
                self.future.set_exception(pump.PartialWriteError(self.failures))
            else:
                self.future.set_result(None)


class _Request:
    """Lines sent in one write request, and the events they stand for.

    `segments` are (write, event indexes) runs, in the order of `lines`.
    """

    __slots__ = ("lines", "segments")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.segments: list[tuple[_Write, Sequence[int]]] = []


class InfluxDBSink(pump.Sink):
    """Writes events as points; an event is done once the server accepted its request."""

    ConfigModel = InfluxDBSinkConfig
    Config: InfluxDBSinkConfig

    points_written = pump.Counter("Points the server accepted")
    requests = pump.Counter("Write requests the server accepted")
    points_rejected = pump.Counter("Points the server refused for good, handed to the policy")
    isolations = pump.Counter("Refused requests split to find the refused lines")
    retries = pump.Counter("Write requests sent again after a 429/5xx or no answer")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: InfluxDBConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, InfluxDBConnection, where=self)
        self.builder = self.Config.builder()
        self._tasks = pump.TaskGroup(self.location())
        self._request: _Request | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._slots: asyncio.Semaphore | None = None
        self._log = pump.RateLimitedLog(L, 5.0)

    # -- building lines -------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Build the events' lines and queue them; completes when the server accepted them."""
        loop = asyncio.get_running_loop()
        write = _Write(loop.create_future())
        built, failures = self.builder.lines(events, contexts, self._line)
        lines: list[str]
        positions: Sequence[int]
        if failures is None:
            lines, positions = built, range(len(built))  # type: ignore[assignment]
        else:
            where = self.location()
            for i, exc in failures.items():  # never valid by retrying: the policy decides
                write.failures[i] = pump.PermanentWriteError.wrap(where, exc)
            positions = [i for i, line in enumerate(built) if line is not None]
            lines = [built[i] for i in positions]  # type: ignore[misc]
        if lines:
            self._queue(write, lines, positions)
        if self._request is not None and self._timer is None:
            self._timer = loop.call_later(self.Config.flush_interval, self._flush_soon)
        write.done()
        return write.future

    def _line(self, event: Any, context: Mapping[str, Any]) -> str:
        """The line of an event the batch's fast path did not take (any kind of event)."""
        if type(event) is dict:
            return self.builder.line(event, context)
        if isinstance(event, str | bytes | bytearray | memoryview):
            return text_lines(event if isinstance(event, str) else bytes(event))
        if isinstance(event, Mapping):
            return self.builder.line(event, context)
        if isinstance(event, tuple | list):
            return bspump_line(event, NANOSECONDS[self.Config.precision])
        if hasattr(event, "to_line_protocol"):
            return point_line(event, self.Config.precision, self.builder.clock)
        raise LineProtocolError(
            f"cannot write a {type(event).__name__} as a point (events are mappings, line "
            "protocol text, influxdb_client Points or BSPump's 4-tuples)"
        )

    def _queue(self, write: _Write, lines: list[str], positions: Sequence[int]) -> None:
        """Put the lines into the request being filled, sealing each one that is full.

        Requests are counted in lines here; their size in bytes is checked once the body is
        joined (`_post` splits a body over `batch_max_bytes`), so the common case costs
        nothing per line.
        """
        max_points = self.Config.batch_max_points
        start = 0
        while start < len(lines):
            request = self._request
            if request is None:
                request = self._request = _Request()
            stop = min(len(lines), start + max_points - len(request.lines))
            request.lines += lines[start:stop]
            request.segments.append((write, positions[start:stop]))
            write.pending += 1
            start = stop
            if len(request.lines) >= max_points:
                self._seal()

    def _flush_soon(self) -> None:
        self._timer = None
        self._seal()

    def _seal(self) -> None:
        """Send the request being filled."""
        request, self._request = self._request, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if request is None or not request.lines:
            return
        self._tasks.spawn(self._send(request), name=f"{self.Id}-write")

    # -- sending ---------------------------------------------------------------------------------

    async def _send(self, request: _Request) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.Config.max_concurrent_writes)
        try:
            async with self._slots:
                await self._deliver(request)
        except BaseException as exc:
            error = (
                exc
                if isinstance(exc, Exception)
                else InfluxDBError(
                    f"{self.location()}: the write was cancelled before the server answered"
                )
            )
            self._fail(request, error)
            if not isinstance(exc, Exception):
                raise

    async def _deliver(self, request: _Request) -> None:
        """Send a request; settle each event: done, refused for good, or failed for now."""
        lines = request.lines
        body = "\n".join(lines).encode()
        if len(body) <= self.Config.batch_max_bytes:
            refusal = await self._post(body)
            if refusal is None:
                self.points_written += len(lines)
                self.requests += 1
                for write, _positions in request.segments:
                    write.done()
                return
            parts: list[tuple[int, int, Refusal | None]] = [(0, len(lines), refusal)]
        else:
            parts = [(start, stop, None) for start, stop in self._split(lines)]
        refused: dict[int, Refusal] = {}
        accepted: set[int] = set()
        try:
            for start, stop, known in parts:
                if known is None:
                    known = await self._post_lines(lines[start:stop])
                    if known is None:
                        self.requests += 1
                        accepted.update(range(start, stop))
                        continue
                self.isolations += 1
                bad, good = await isolate(lines[start:stop], known, self._post_lines)
                refused.update((start + i, why) for i, why in bad.items())
                accepted.update(start + i for i in good)
        except Exception as exc:
            # the server went away meanwhile: what is undecided fails for now
            self._settle(request, refused, accepted, exc)
            return
        self._settle(request, refused, accepted, None)

    def _split(self, lines: list[str]) -> list[tuple[int, int]]:
        """Runs of lines of at most `batch_max_bytes` each (a longer line goes alone)."""
        limit = self.Config.batch_max_bytes
        runs: list[tuple[int, int]] = []
        start, size = 0, 0
        for i, line in enumerate(lines):
            length = len(line.encode()) + 1
            if size + length > limit and i > start:
                runs.append((start, i))
                start, size = i, 0
            size += length
        runs.append((start, len(lines)))
        return runs

    def _settle(
        self,
        request: _Request,
        refused: Mapping[int, Refusal],
        accepted: set[int],
        error: BaseException | None,
    ) -> None:
        """Done, refused or (with `error`) failed for now: each line of an isolated request."""
        self.points_written += len(accepted)
        self.points_rejected += len(refused)
        target = self.Connection.target()
        n = 0
        for write, positions in request.segments:
            for index in positions:
                refusal = refused.get(n)
                if refusal is not None:
                    write.failures[index] = PointRejected(
                        f"{self.location()}: {target} refused the point with {refusal.status}: "
                        f"{refusal.message}",
                        refusal.status,
                        refusal.message,
                    )
                elif error is not None and n not in accepted:
                    write.failures[index] = error
                n += 1
        if refused:
            self.counters.warnings += 1
            self._log.warning(
                "%s: %d of %d points refused by the server (first: %s)",
                self.location(),
                len(refused),
                n,
                next(iter(refused.values())).message,
            )
        for write, _positions in request.segments:
            write.done()

    def _fail(self, request: _Request, error: BaseException) -> None:
        for write, positions in request.segments:
            for index in positions:
                write.failures.setdefault(index, error)
            write.done()

    async def _post_lines(self, lines: Sequence[str]) -> Refusal | None:
        """`_post` of these lines."""
        return await self._post("\n".join(lines).encode())

    async def _post(self, body: bytes) -> Refusal | None:
        """Send a body until the server answers other than busy; None when it accepted it.

        Returns the server's refusal about the points (400, 422, 413); raises for a request
        refused as a whole (credentials, a missing database) or retried in vain.
        """
        cfg = self.Config
        connection = self.Connection
        gzipped = connection.Config.gzip
        if gzipped:
            body = await asyncio.to_thread(
                gzip.compress, body, connection.Config.gzip_level, mtime=0
            )
        backoff = connection.Config.backoff()
        backoff.attempts = cfg.write_retries
        while True:
            try:
                answer = await connection.write(body, cfg.precision, gzipped)
            except InfluxDBUnavailable as exc:
                if backoff.exhausted:
                    raise InfluxDBUnavailable(
                        f"{exc}; gave up after {backoff.attempt} retries"
                    ) from None
                await self._pause(backoff, f"{self.location()}: {exc}")
                continue
            status = answer.status
            if answer.ok:
                return None
            if status in POINT_STATUSES or status == 413:
                return Refusal(status, answer.message, answer.text)
            if status in RETRY_STATUSES:
                reason = f"{connection.target()} answered {status}: {answer.message}"
                if backoff.exhausted:
                    raise InfluxDBUnavailable(
                        f"{self.location()}: {reason}; gave up after {backoff.attempt} retries"
                    )
                await self._pause(backoff, f"{self.location()}: {reason}", answer.retry_after())
                continue
            if status in (401, 403):
                raise InfluxDBAuthError(f"{self.location()}: {connection.explain_auth(answer)}")
            if status == 404:
                raise InfluxDBNotFound(
                    f"{self.location()}: {connection.target()} answered 404: {answer.message}"
                )
            raise InfluxDBError(
                f"{self.location()}: {connection.target()} answered {status}: {answer.message}"
            )

    async def _pause(self, backoff: pump.Backoff, reason: str, asked: float | None = None) -> None:
        """Count the retry, then wait for it (at least `asked`, the server's Retry-After)."""
        self.retries += 1
        self.counters.warnings += 1
        await backoff.pause(self._log, reason, asked=asked)

    # -- lifecycle -------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Send the partly filled request now and wait for every request in flight."""
        self._seal()
        await self._tasks.drain()

    async def stop(self) -> None:
        """Send what is queued and wait for it (bounded by stop_timeout), then cancel the rest."""
        self._seal()
        if not await self._tasks.drain(self.Config.stop_timeout):
            L.warning(
                "%s: writes still in flight after %.1fs; cancelled (their events are not "
                "acknowledged)",
                self.location(),
                self.Config.stop_timeout,
            )
            await self._tasks.cancel()
