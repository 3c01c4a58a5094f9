"""Components registered through entry points by the pump-test-plugins distribution."""

from __future__ import annotations

import asyncio
import json
import logging

from pydantic import Field, SecretStr

import pump

L = logging.getLogger(__name__)


class NumbersSource(pump.Source):
    """Emits {"n": i} for `count` numbers from `start`, `batch_size` at a time; then ends."""

    class ConfigModel(pump.Source.ConfigModel):
        count: int = Field(10, ge=0, description="How many events")
        start: int = Field(0, description="The first number")
        batch_size: int = Field(100, gt=0, description="Events per batch")
        delay: float = Field(0.0, ge=0, description="Seconds to wait between batches")

    batches = pump.Counter("Batches emitted")

    async def main(self):
        c = self.Config
        end = c.start + c.count
        for first in range(c.start, end, c.batch_size):
            await self.emit([{"n": i} for i in range(first, min(first + c.batch_size, end))])
            self.batches += 1
            if c.delay:
                await asyncio.sleep(c.delay)


class TickSource(pump.TriggerSource):
    """Emits `per_cycle` events {"tick": cycle, "i": i} each time a trigger fires."""

    class ConfigModel(pump.TriggerSource.ConfigModel):
        per_cycle: int = Field(3, gt=0, description="Events per cycle")

    async def cycle(self):
        k = self.counters.cycles
        await self.emit([{"tick": k, "i": i} for i in range(self.Config.per_cycle)])


class TestConnection(pump.Connection):
    """A pretend client: holds a url and a password, logs (masked) config when it starts."""

    class ConfigModel(pump.Connection.ConfigModel):
        url: str = Field(..., description="Where to connect")
        password: SecretStr = Field(SecretStr(""), description="The password")

    async def start(self):
        L.info("%s: connecting with %s", self.location(), self.Config)


class ConnectedSource(pump.Source):
    """BSPump-shaped connector: takes `connection` in its constructor; emits {"n", "url"}."""

    class ConfigModel(pump.Source.ConfigModel):
        count: int = Field(3, ge=0, description="How many events")

    def __init__(self, app, pipeline, connection, id=None, config=None):
        super().__init__(app, pipeline, id=id, config=config)
        self.Connection = pipeline.locate_connection(app, connection)

    async def main(self):
        url = self.Connection.Config.url
        await self.emit([{"n": i, "url": url} for i in range(self.Config.count)])


class AddProcessor(pump.Processor):
    """Adds `amount` to the event's `field`."""

    class ConfigModel(pump.Processor.ConfigModel):
        field: str = Field("n", description="The key to add to")
        amount: int = Field(..., description="What to add")

    def process(self, context, event):
        return {**event, self.Config.field: event[self.Config.field] + self.Config.amount}


class FailProcessor(pump.Processor):
    """Raises on the event whose `n` is `when`; passes the others on."""

    class ConfigModel(pump.Processor.ConfigModel):
        when: int = Field(..., description="The n that fails")

    def process(self, context, event):
        if event.get("n") == self.Config.when:
            raise ValueError(f"failed on purpose at n={event['n']}")
        return event


class SharedProcessor(pump.Processor):
    """Tags events with the distribution it comes from (pump-test-plugins-conflict has one too)."""

    def process(self, context, event):
        return {"shared_by": "pump-test-plugins", "event": event}


class JsonLinesSink(pump.Sink):
    """Appends each event as a JSON line to `path`."""

    class ConfigModel(pump.Sink.ConfigModel):
        path: str = Field(..., description="The file written")

    async def start(self):
        self._file = open(self.Config.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()

    def write(self, events, contexts):
        self._file.write("".join(json.dumps(e, default=str) + "\n" for e in events))
        self._file.flush()

    async def stop(self):
        self._file.close()


class SecureSink(pump.Sink):
    """Discards events; has secrets in its config, and logs its (masked) config on start."""

    class ConfigModel(pump.Sink.ConfigModel):
        password: SecretStr = Field(..., description="A typed secret")
        pin: int = Field(0, description="A secret number", json_schema_extra={"secret": True})
        api_key: str = Field(
            "default-key-value", description="A marked secret", json_schema_extra={"secret": True}
        )
        label: str = Field("secure", description="Not a secret")

    async def start(self):
        L.info("%s: started with %s", self.location(), self.Config)
        L.debug("%s: masked config %s", self.location(), self.Config.masked())

    def write(self, events, contexts):
        return None
