"""RedisStreamSource: reads a stream in a consumer group; XACK only when each event is done."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pump
import redis.asyncio as aioredis
from pydantic import Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pump_redis.connection import RedisConnection

L = logging.getLogger(__name__)

#: Errors after which reading goes on once the server answers again.
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisStreamSourceConfig(pump.ComponentConfig):
    """Settings of a RedisStreamSource."""

    stream: str = Field(..., min_length=1, description="The stream to read", examples=["events"])
    group: str = Field(..., min_length=1, description="Consumer group (created when missing)")
    consumer: str = Field(
        "",
        description="Consumer name in the group; keep it stable across restarts and give each "
        "instance on one host its own (empty: the host name)",
    )
    field: str = Field(
        "data", description="The entry field that is the event; empty: the whole entry (a dict)"
    )
    start: str = Field("0", description="Where a new group starts: 0 (everything) or $ (new only)")
    batch_size: int = Field(500, gt=0, le=100_000, description="Most entries read at once")
    block: float = Field(0.5, gt=0, description="Seconds one read waits for new entries")
    claim_idle: float = Field(
        30.0,
        gt=0,
        description="Seconds an entry stays unacknowledged by a consumer before "
        "another claims it (XAUTOCLAIM): how long a crashed consumer's entries wait",
    )
    claim_interval: float = Field(5.0, gt=0, description="Seconds between looks for such entries")


class RedisStreamSource(pump.Source):
    """Hands over stream entries; each is acknowledged (XACK) once every event of its batch is done.

    Entries handed over but not acknowledged stay pending in the group: after a crash the same
    consumer reads its own pending entries first, and entries of a consumer that never comes
    back are claimed (XAUTOCLAIM) once idle for `claim_idle` seconds. At-least-once.
    """

    ConfigModel = RedisStreamSourceConfig
    Config: RedisStreamSourceConfig

    # its own numbers: in Pipeline.metrics(), the Prometheus text and `pump run`'s progress
    acknowledged = pump.Counter("Entries acknowledged (XACK) once their events were done")
    claimed = pump.Counter("Entries claimed from consumers that left them pending (XAUTOCLAIM)")

    def __init__(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        connection: RedisConnection | str = "redis",
        id: str | None = None,
        config: Any = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        # an id (from YAML) or the connection itself; an error names what is wrong
        self.Connection = app.locate_connection(connection, RedisConnection, where=self)
        # acknowledge() is synchronous: the XACKs run as tasks, drained on stop
        self.tasks = pump.TaskGroup(self.location())
        self.failures = pump.RateLimitedLog(L, interval=5.0)
        #: Entry ids handed over and not yet acknowledged or rejected.
        self.in_flight: set[bytes] = set()
        #: This instance's name in the consumer group.
        self.consumer = self.Config.consumer or socket.gethostname()

    async def main(self) -> None:
        backoff = self.Connection.Config.backoff()
        while True:
            try:
                await self._read()
            except TRANSIENT as exc:
                delay = backoff.next_delay()
                self.failures.warning(
                    "%s: Redis is unreachable (%s: %s); retry %d in %.1fs",
                    self.location(),
                    type(exc).__name__,
                    exc,
                    backoff.attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            return

    async def _read(self) -> None:
        client = self.Connection.get_client()
        config = self.Config
        await self._ensure_group(client)
        # what this consumer was given before (a crash) and never acknowledged, first
        cursor: bytes | str = "0"
        while entries := await self._read_group(client, cursor):
            await self._emit(entries)
            cursor = entries[-1][0]
        loop = asyncio.get_running_loop()
        next_claim = loop.time()
        block = int(config.block * 1000)
        while True:
            if loop.time() >= next_claim:
                await self._claim(client)
                next_claim = loop.time() + config.claim_interval
            entries = await self._read_group(client, ">", block)
            stop_if_cancelled()
            if entries:
                await self._emit(entries)

    async def _read_group(
        self, client: aioredis.Redis, cursor: bytes | str, block: int | None = None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        config = self.Config
        try:
            # redis-py types the reply loosely (RESP2 and RESP3 shapes): this is RESP2's
            reply: Any = await client.xreadgroup(
                config.group,
                self.consumer,
                {config.stream: cursor},
                count=config.batch_size,
                block=block,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group(client)  # the stream or group was deleted meanwhile
            return []
        return reply[0][1] if reply else []

    async def _ensure_group(self, client: aioredis.Redis) -> None:
        try:
            await client.xgroup_create(
                self.Config.stream, self.Config.group, id=self.Config.start, mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim(self, client: aioredis.Redis) -> None:
        """Take over entries other consumers left unacknowledged for `claim_idle` seconds."""
        config = self.Config
        start: bytes | str = "0-0"
        while True:
            reply = await client.xautoclaim(
                config.stream,
                config.group,
                self.consumer,
                min_idle_time=int(config.claim_idle * 1000),
                start_id=start,
                count=config.batch_size,
            )
            stop_if_cancelled()
            start, entries = reply[0], reply[1]
            # this consumer's own slow entries are still being worked on: not again
            entries = [e for e in entries if e[0] not in self.in_flight]
            if entries:
                L.info("%s: claimed %d abandoned entries", self.location(), len(entries))
                self.claimed += len(entries)
                await self._emit(entries)
            if start in (b"0-0", "0-0"):
                return

    async def _emit(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        field = self.Config.field.encode()
        stream = self.Config.stream
        events: list[Any] = []
        contexts: list[dict[str, Any]] = []
        errors: dict[int, BaseException] = {}
        ids = [entry_id for entry_id, _ in entries]
        for i, (entry_id, fields) in enumerate(entries):
            if not field:
                events.append(fields)
            elif field in fields:
                events.append(fields[field])
            else:
                # the raw entry goes to the error policy (dead letter), not silently away
                events.append(fields)
                errors[i] = KeyError(
                    f"{self.location()}: entry {entry_id.decode()} has no field '{field.decode()}'"
                    f" (fields: {sorted(k.decode(errors='replace') for k in fields)})"
                )
            contexts.append({"redis_stream": stream, "redis_id": entry_id.decode()})
        self.in_flight.update(ids)
        await self.emit(events, contexts=contexts, token=ids, errors=errors or None)

    def acknowledge(self, batch: pump.Batch) -> None:
        # in flight until Redis confirmed the XACK: a claim round meanwhile must not take them
        self.tasks.spawn(self._ack(batch.token))

    def reject(self, batch: pump.Batch) -> None:
        # left pending in the group: read again after a restart, or claimed by another consumer
        self.in_flight.difference_update(batch.token)

    async def _ack(self, ids: list[bytes]) -> None:
        try:
            await self.Connection.get_client().xack(self.Config.stream, self.Config.group, *ids)
        except (*TRANSIENT, pump.BuildError) as exc:
            self.in_flight.difference_update(ids)
            # still pending at the server: delivered again later (at-least-once), never lost
            self.failures.warning(
                "%s: XACK of %d entries failed (%s); they will be delivered again",
                self.location(),
                len(ids),
                exc,
            )
        else:
            self.in_flight.difference_update(ids)
            self.acknowledged += len(ids)

    async def stop(self) -> None:
        await self.tasks.drain(timeout=5.0)


def stop_if_cancelled() -> None:
    """End the reading task if it was cancelled while a reply was being read.

    redis-py's asyncio client can swallow a cancellation that arrives at the wrong moment of
    a blocking command (redis-py issues 2028, 2551): the task then reads on forever and a
    pipeline never stops. The task still counts the request (`cancelling()`), so honour it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
