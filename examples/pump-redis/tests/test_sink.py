"""RedisStreamSink: entries as configured, trimming, and a clear error for unserialized events."""

from __future__ import annotations

import pump
import pytest
import redis
from pump.common import IteratorSource
from pump.testing import run_pipeline as harness_run

from pump_redis import RedisConnection, RedisStreamSink


def sink_pipeline(url: str, config: dict, **pipeline_config):
    def make(app: pump.Application) -> pump.Pipeline:
        app.add_connection(RedisConnection(app, "redis", config={"url": url}))
        pipeline = pump.Pipeline(app, "p", config=pipeline_config)
        # the harness replaces the source with its own, and keeps the sink (keep_sink)
        source = IteratorSource(app, pipeline, [])
        pipeline.build(source, RedisStreamSink(app, pipeline, "redis", config=config))
        return pipeline

    return make


def run_pipeline(make, events: list):
    return harness_run(make, [(None, e) for e in events], keep_sink=True, batch_size=100)


def test_events_become_entries_in_order(redis_url: str, keys: str, client: redis.Redis) -> None:
    stream = f"{keys}-out"
    events = [f"event {i}".encode() for i in range(1000)]
    result = run_pipeline(sink_pipeline(redis_url, {"stream": stream}), events)
    assert not result.errors
    assert [f[b"data"] for _, f in client.xrange(stream)] == events


def test_an_empty_field_writes_dicts_as_entries(
    redis_url: str, keys: str, client: redis.Redis
) -> None:
    stream = f"{keys}-out"
    result = run_pipeline(
        sink_pipeline(redis_url, {"stream": stream, "field": ""}), [{"a": "1", "b": "2"}]
    )
    assert not result.errors
    assert [f for _, f in client.xrange(stream)] == [{b"a": b"1", b"b": b"2"}]


def test_maxlen_trims_the_stream(redis_url: str, keys: str, client: redis.Redis) -> None:
    stream = f"{keys}-out"
    run_pipeline(sink_pipeline(redis_url, {"stream": stream, "maxlen": 10}), [b"x"] * 2000)
    assert client.xlen(stream) < 2000


def test_an_unserialized_event_fails_naming_the_sink(redis_url: str, keys: str) -> None:
    make = sink_pipeline(redis_url, {"stream": f"{keys}-out"}, on_error="skip", sink_retries=0)
    result = run_pipeline(make, [{"not": "bytes"}])
    assert result.errors, "the event vanished without an error"
    message = str(result.errors[0].as_dict()["error"])
    assert "RedisStreamSink" in message and "json.serialize" in message


@pytest.mark.parametrize("config", [{"stream": ""}, {"stream": "s", "maxlen": 0}])
def test_bad_config_is_refused(config: dict, redis_url: str) -> None:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(RedisConnection(app, "redis", config={"url": redis_url}))
    with pytest.raises(pump.ConfigError):
        RedisStreamSink(app, pump.Pipeline(app, "p"), "redis", config=config)
