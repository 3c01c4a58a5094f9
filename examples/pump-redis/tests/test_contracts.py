"""Pump's delivery rules against a real Redis, checked by the contract suites of pump.testing."""

from __future__ import annotations

import itertools

import orjson
import pytest
import redis
from pump.testing import SinkContract, SourceContract

from pump_redis import RedisConnection, RedisStreamSink, RedisStreamSource


class RedisContract:
    """Gives each contract test a Redis URL and fresh stream names."""

    names = itertools.count()

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str, keys: str) -> None:
        self.url = redis_url
        self.prefix = keys

    def fresh(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-{next(self.names)}"

    def connect(self, app) -> None:
        app.add_connection(RedisConnection(app, "redis", config={"url": self.url}))


class TestSource(RedisContract, SourceContract):
    supports_redelivery = True
    expected_context_keys = ("redis_stream", "redis_id")
    bad_configs = ({"batch_size": 0}, {"stream": ""}, {"claim_idle": -1})

    def prepare(self):
        self.stream = self.fresh("in")

    def make_source(self, app, pipeline, config=None):
        self.connect(app)
        # one consumer name across the test's restarts: a restart reads its own pending entries
        config = {
            "stream": self.stream,
            "group": "g",
            "consumer": "c1",
            "block": 0.05,
            "batch_size": 5,
            **(config or {}),
        }
        return RedisStreamSource(app, pipeline, "redis", config=config)

    def produce(self, events):
        client = redis.Redis.from_url(self.url)
        try:
            pipe = client.pipeline(transaction=False)
            for event in events:
                pipe.xadd(self.stream, {"data": orjson.dumps(event)})
            pipe.execute()
        finally:
            client.close()

    def decode(self, event):
        return orjson.loads(event)


class TestSink(RedisContract, SinkContract):
    bad_configs = ({"stream": ""}, {"maxlen": 0})

    def prepare(self):
        self.stream = self.fresh("out")
        # a key of another type: Redis refuses every XADD to it (WRONGTYPE)
        self.refusing = self.fresh("string")
        client = redis.Redis.from_url(self.url)
        client.set(self.refusing, "not a stream")
        client.close()

    def make_sink(self, app, pipeline, config=None):
        self.connect(app)
        config = {"stream": self.stream, **(config or {})}
        return RedisStreamSink(app, pipeline, "redis", config=config)

    def make_failing_sink(self, app, pipeline):
        return self.make_sink(app, pipeline, config={"stream": self.refusing})

    def read_back(self):
        client = redis.Redis.from_url(self.url)
        try:
            return [orjson.loads(fields[b"data"]) for _, fields in client.xrange(self.stream)]
        finally:
            client.close()

    def make_events(self, n):
        return [orjson.dumps(e) for e in super().make_events(n)]

    def event_key(self, event):
        return super().event_key(orjson.loads(event) if isinstance(event, bytes) else event)
