"""InfluxDBSource: a query run on triggers; one event per row, with its tags and time.

InfluxQL (`query`) goes to the 1.x `/query` API (InfluxDB 1.x, and 2.x with a DBRP mapping),
read chunked (`batch_size` rows per chunk) so memory stays bounded whatever the answer's size;
each chunk is handed over as one batch once the pipeline is ready. An event is a row as a
dict: `time` (an integer in `epoch` units), the columns, and the series' tags (a `GROUP BY`
query). Flux (`flux`) goes to `/api/v2/query` of a server that speaks it (InfluxDB 2.x, 1.8
with flux-enabled); each record's values make an event.

In *incremental* mode (`position_file`) the source keeps a time position: the query reads
the window after it — InfluxQL with `WHERE time > $after AND time <= $until`, Flux with
`range(start: params.after, stop: params.until)` — where `until` is the time of the cycle
minus `time_delay`, so that points still being written are not skipped. The position is
saved (replaced atomically) only when every batch up to it is done. A query whose rows come
in time order (one series, InfluxQL) also saves positions inside a cycle, so a restart does
not read a long cycle again from its start; otherwise the position moves at the end of a
cycle whose batches are all done. After a restart nothing done is read again and nothing is
skipped; a crash between a batch being done and its position being saved reads it again.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from pydantic import Field, model_validator

import pump
from pump.delivery import Batch, PositionTrail
from pump.trigger import TriggerSourceConfig
from pump_influxdb.connection import InfluxDBConnection
from pump_influxdb.errors import InfluxDBError, InfluxDBQueryError, InfluxDBUnavailable
from pump_influxdb.lineprotocol import NANOSECONDS, Precision
from pump_influxdb.position import TimePosition

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

MEASUREMENT_KEY = "influxdb_measurement"
TAGS_KEY = "influxdb_tags"
POSITION_KEY = "influxdb_position"

#: The earliest time InfluxDB stores, nanoseconds (1677-09-21).
MIN_TIME = -9223372036854775806
_DESCENDING = re.compile(r"order\s+by\s+time\s+desc", re.IGNORECASE)


class InfluxDBSourceConfig(TriggerSourceConfig):
    """Settings of an InfluxDBSource."""

    query: str = Field(
        "",
        description="InfluxQL query (1.x /query); incremental mode: with `time > $after AND "
        "time <= $until`",
        examples=["SELECT * FROM cpu WHERE time > $after AND time <= $until GROUP BY *"],
    )
    flux: str = Field(
        "",
        description="Flux query instead (2.x /api/v2/query); incremental: range(start: "
        "params.after, stop: params.until)",
    )
    epoch: Precision = Field("ns", description="Unit of the `time` of InfluxQL rows: ns, us, ms, s")
    batch_size: int = Field(
        1000, gt=0, le=1_000_000, description="Rows per chunk of the answer and per hand-over"
    )
    position_file: str = Field(
        "",
        description="Incremental mode: file keeping the time position of the rows done",
        examples=["/var/lib/pump/cpu.pos"],
    )
    time_delay: float = Field(
        5.0,
        ge=0,
        description="Incremental mode: read only rows older than this many seconds (points "
        "still being written are not skipped)",
    )
    lookback: float = Field(
        0.0,
        ge=0,
        description="Incremental mode, first run (no saved position): read the last this many "
        "seconds (0: everything)",
    )
    measurement_key: str = Field(
        "", description="Event key that receives the series' measurement ('': none)"
    )
    max_chunk_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Largest chunk of an InfluxQL answer read, bytes (a bigger one fails)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> InfluxDBSourceConfig:
        problems = []
        if bool(self.query) == bool(self.flux):
            problems.append("key 'query' or 'flux': give exactly one of them")
        text = self.query or self.flux
        names = ("$after", "$until") if self.query else ("params.after", "params.until")
        key = "query" if self.query else "flux"
        if self.position_file:
            missing = [n for n in names if n not in text]
            if missing:
                problems.append(
                    f"key {key!r}: incremental mode (position_file) needs {' and '.join(missing)} "
                    f"in the query, e.g. WHERE time > $after AND time <= $until"
                )
            if self.query and _DESCENDING.search(self.query):
                problems.append(
                    "key 'query': incremental mode reads rows in time order; "
                    "drop ORDER BY time DESC"
                )
        elif text and any(n in text for n in names):
            problems.append(
                f"key 'position_file': the {key} uses {names[0]}/{names[1]}, which only "
                "incremental mode (a position_file) gives"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class InfluxDBSource(pump.TriggerSource):
    """Runs an InfluxQL or Flux query on each trigger; incrementally with a saved time position."""

    ConfigModel = InfluxDBSourceConfig
    Config: InfluxDBSourceConfig

    rows_read = pump.Counter("Rows read from the server and handed over")
    positions_saved = pump.Counter("Times the time position of the rows done was saved")

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
        cfg = self.Config
        self._store = TimePosition(cfg.position_file) if cfg.position_file else None
        #: Where the next cycle reads from: every row up to it was handed over (ns).
        self.position: int | None = None
        #: The saved position: every row up to it is done (ns).
        self.saved_position: int | None = None
        self._trail = PositionTrail()

    @property
    def incremental(self) -> bool:
        """True when the source reads only the rows after its position."""
        return self._store is not None

    # -- reading ----------------------------------------------------------------------------------

    async def cycle(self) -> None:
        """Run the query and hand its rows over, a chunk at a time."""
        until = None
        params: dict[str, Any] | None = None
        if self.incremental:
            after = self.position if self.position is not None else MIN_TIME
            until = time.time_ns() - int(self.Config.time_delay * 1e9)
            if until <= after:
                return
            params = {"after": after, "until": until}
        if self.Config.flux:
            await self._flux(params)
        else:
            await self._influxql(params)
        if until is not None:
            self._cycle_done(until)

    async def _influxql(self, params: dict[str, Any] | None) -> None:
        cfg = self.Config
        unit_ns = NANOSECONDS[cfg.epoch]
        measurement_key = cfg.measurement_key
        first_series: tuple[Any, ...] | None = None
        ordered = self.incremental  # rows in time order so far (one series, rising times)
        last_time: Any = None
        chunks = self.Connection.query_v1(
            cfg.query,
            params=params,
            epoch=cfg.epoch,
            chunk_size=cfg.batch_size,
            max_chunk_bytes=cfg.max_chunk_bytes,
        )
        async for chunk in chunks:
            events: list[dict[str, Any]] = []
            contexts: list[dict[str, Any]] = []
            for result in chunk.get("results") or []:
                if "error" in result:
                    raise InfluxDBQueryError(
                        f"{self.location()}: statement {result.get('statement_id')} failed: "
                        f"{result['error']}"
                    )
                for series in result.get("series") or []:
                    name = series.get("name", "")
                    tags = series.get("tags") or {}
                    identity = (result.get("statement_id"), name, sorted(tags.items()))
                    if first_series is None:
                        first_series = identity
                    elif identity != first_series:
                        ordered = False
                    columns = series.get("columns") or []
                    context = {MEASUREMENT_KEY: name, TAGS_KEY: tags}
                    for row in series.get("values") or []:
                        event = dict(zip(columns, row, strict=False))
                        if tags:
                            event.update(tags)
                        if measurement_key:
                            event[measurement_key] = name
                        if ordered:
                            stamp = event.get("time")
                            if type(stamp) is not int or (
                                last_time is not None and stamp < last_time
                            ):
                                ordered = False
                            last_time = stamp
                        events.append(event)
                        contexts.append(context)
            if events:
                position = None
                if ordered and type(last_time) is int:
                    # every row before the last one's time was handed over; rows at that time
                    # may go on in the next chunk, so they are read again after a restart
                    position = last_time * unit_ns - 1
                await self._hand_over(events, contexts, position)

    async def _flux(self, params: dict[str, Any] | None) -> None:
        from influxdb_client.rest import ApiException

        flux_params: dict[str, Any] | None = None
        if params is not None:
            flux_params = {name: _datetime(value) for name, value in params.items()}
        connection = self.Connection
        size = self.Config.batch_size
        try:
            records = await connection.client.query_api().query_stream(
                self.Config.flux, org=connection.Config.org or None, params=cast(Any, flux_params)
            )
            events: list[dict[str, Any]] = []
            async for record in records:
                values = record.values
                events.append({k: v for k, v in values.items() if k not in ("result", "table")})
                if len(events) >= size:
                    await self._hand_over(events, None, None)
                    events = []
            if events:
                await self._hand_over(events, None, None)
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 404:
                raise InfluxDBQueryError(
                    f"{self.location()}: {connection.url} has no Flux API (404 on "
                    "/api/v2/query): use 'query' (InfluxQL) with this server"
                ) from None
            if status in (429, 502, 503, 504):
                raise InfluxDBUnavailable(
                    f"{self.location()}: {connection.url} answered {status}"
                ) from None
            raise InfluxDBQueryError(
                f"{self.location()}: the Flux query was refused with {status}: {exc.message}"
            ) from None

    async def _hand_over(
        self,
        events: list[dict[str, Any]],
        contexts: list[dict[str, Any]] | None,
        position: int | None,
    ) -> None:
        self.rows_read += len(events)
        if not self.incremental:
            await self.emit(events, contexts=contexts or [{} for _ in events])
            return
        handle = self._trail.hand_over(len(events), position)
        if contexts is None:
            contexts = [{POSITION_KEY: position} for _ in events]
        else:
            contexts = [{**c, POSITION_KEY: position} for c in contexts]
        await self.emit(events, contexts=contexts, token=handle)
        if position is not None:
            self.position = position  # only once handed over: a failed hand-over reads it again

    def _cycle_done(self, until: int) -> None:
        """Every row up to `until` was handed over: the position moves once they are done."""
        self.position = until
        if self._trail.reach(until):
            self._save(until)

    # -- delivery ---------------------------------------------------------------------------------

    def acknowledge(self, batch: Batch) -> None:
        """Every row of `batch` is done: save the position of the done prefix."""
        if self._store is None or batch.token is None:
            return
        position = self._trail.done(batch.token)
        if position is not None:
            self._save(position)

    def _save(self, position: int) -> None:
        if self._store is None or (
            self.saved_position is not None and position <= self.saved_position
        ):
            return
        self._store.save(position)
        self.saved_position = position
        self.positions_saved += 1

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the saved time position (incremental mode)."""
        await super().start()
        if self._store is None:
            return
        try:
            self.saved_position = self._store.load()
        except (OSError, ValueError, TypeError) as exc:
            raise InfluxDBError(
                f"{self.location()}: key 'position_file': cannot read the saved position "
                f"({type(exc).__name__}: {exc}); fix or remove the file"
            ) from None
        if self.saved_position is not None:
            self.position = self.saved_position
        elif self.Config.lookback:
            self.position = time.time_ns() - int(self.Config.lookback * 1e9)


def _datetime(nanoseconds: int) -> datetime.datetime:
    """A time position as an aware datetime (Flux parameters; microseconds)."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return epoch + datetime.timedelta(microseconds=nanoseconds // 1000)
