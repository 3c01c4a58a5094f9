"""RedisStreamSink: XADDs each batch, pipelined; the batch is done once Redis replied."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import pump
from pydantic import Field

from pump_redis.connection import RedisConnection

#: What XADD can store as a field value.
VALUE_TYPES = (bytes, str, int, float)


class RedisStreamSinkConfig(pump.ComponentConfig):
    """Settings of a RedisStreamSink."""

    stream: str = Field(..., min_length=1, description="The stream to add to", examples=["out"])
    field: str = Field(
        "data",
        description="The entry field the event goes into; empty: the event is a dict of fields",
    )
    maxlen: int | None = Field(
        None, gt=0, description="Trim the stream to about this many entries (MAXLEN ~)"
    )


class RedisStreamSink(pump.Sink):
    """Adds events (bytes, str or numbers; serialize others first) as stream entries.

    Batches written while a round trip is under way go together in the next pipeline, in
    order; each batch is reported done when Redis answered every one of its XADDs.
    """

    ConfigModel = RedisStreamSinkConfig
    Config: RedisStreamSinkConfig

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
        self.queue: list[tuple[list[dict[Any, Any]], asyncio.Future[None]]] = []
        self.tasks = pump.TaskGroup(self.location())
        self.sending: asyncio.Task[None] | None = None

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        entries = [self._entry(event) for event in events]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append((entries, done))
        if self.sending is None or self.sending.done():
            self.sending = self.tasks.spawn(self._send())
        return done

    def _entry(self, event: Any) -> dict[Any, Any]:
        field = self.Config.field
        if field and isinstance(event, VALUE_TYPES):
            return {field: event}
        if not field and isinstance(event, dict):
            return event
        wanted = "bytes, str or a number" if field else "a dict of fields"
        raise TypeError(
            f"{self.location()}: an event must be {wanted}, not {type(event).__name__} "
            "(add a json.serialize processor before the sink)"
        )

    async def _send(self) -> None:
        """Send what is queued, round after round, in one pipeline per round (one sender)."""
        while self.queue:
            batches, self.queue = self.queue, []
            try:
                results = await self._pipeline(batches)
            except Exception as exc:
                for _, done in batches:
                    if not done.done():
                        done.set_exception(exc)
                continue
            first = 0
            for entries, done in batches:
                replies = results[first : first + len(entries)]
                first += len(entries)
                failed = {i: r for i, r in enumerate(replies) if isinstance(r, Exception)}
                if done.done():
                    continue
                if not failed:
                    done.set_result(None)
                elif len(failed) == len(entries):
                    done.set_exception(failed[0])
                else:
                    done.set_exception(pump.PartialWriteError(failed))

    async def _pipeline(
        self, batches: list[tuple[list[dict[Any, Any]], asyncio.Future[None]]]
    ) -> list[Any]:
        pipe = self.Connection.get_client().pipeline(transaction=False)
        stream, maxlen = self.Config.stream, self.Config.maxlen
        for entries, _ in batches:
            for entry in entries:
                pipe.xadd(stream, entry, maxlen=maxlen, approximate=True)
        return list(await pipe.execute(raise_on_error=False))

    async def flush(self) -> None:
        await self.tasks.drain()

    async def stop(self) -> None:
        await self.tasks.drain(timeout=5.0)
