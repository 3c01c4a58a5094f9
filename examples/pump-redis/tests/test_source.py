"""RedisStreamSource: bad entries go to the error policy; slow entries are not claimed twice."""

from __future__ import annotations

import asyncio

import orjson
import pump
import pytest
import redis
from pump.common import ListSink
from pump.testing import wait_until

from pump_redis import RedisConnection, RedisStreamSource

# run by pump.testing's pytest plugin, or by pytest-asyncio (in its strict mode too) if installed
pytestmark = pytest.mark.asyncio


def build(url: str, source_config: dict, **pipeline_config) -> tuple:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(RedisConnection(app, "redis", config={"url": url}))
    pipeline = pump.Pipeline(app, "p", config=pipeline_config)
    source = RedisStreamSource(app, pipeline, "redis", config=source_config)
    sink = ListSink(app, pipeline, "out")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    return app, pipeline, sink


async def test_an_entry_without_the_field_is_dead_lettered_and_acknowledged(
    redis_url: str, keys: str, client: redis.Redis
) -> None:
    stream = f"{keys}-in"
    client.xadd(stream, {"data": b'{"n": 1}'})
    client.xadd(stream, {"other": b"x"})
    client.xadd(stream, {"data": b'{"n": 3}'})
    app, pipeline, sink = build(
        redis_url, {"stream": stream, "group": "g", "block": 0.05}, on_error="dead_letter"
    )
    dead = ListSink(app, pipeline, "dead")
    pipeline.set_dead_letter(dead)
    await app.start()
    try:
        assert await wait_until(lambda: len(sink.events) == 2 and len(dead.events) == 1, 10)
        assert await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0, 10)
    finally:
        await app.stop()
    assert [orjson.loads(e) for e in sink.events] == [{"n": 1}, {"n": 3}]
    record = dead.events[0]
    # the raw entry (the dead-letter record may have made its bytes text)
    raw = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in record["event"].items()
    }
    assert raw == {"other": "x"}
    assert "has no field 'data'" in str(record["error"])


async def test_entries_in_flight_are_not_claimed_again_by_their_own_consumer(
    redis_url: str, keys: str, client: redis.Redis
) -> None:
    """An entry the sink is slow with is idle at the server, but this consumer still has it."""
    stream = f"{keys}-in"
    client.xadd(stream, {"data": b"1"})
    app, _, sink = build(
        redis_url,
        {"stream": stream, "group": "g", "block": 0.05, "claim_idle": 0.1, "claim_interval": 0.05},
    )
    gate = asyncio.Event()
    written = sink.write

    async def slow_write(events, contexts):
        await gate.wait()
        written(events, contexts)

    sink.write = slow_write
    await app.start()
    try:
        await asyncio.sleep(0.6)  # several claim rounds while the entry is in flight
        gate.set()
        assert await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0, 10)
    finally:
        await app.stop()
    assert sink.events == [b"1"], "the entry was handed over again while in flight"


async def test_stop_ends_the_source_even_when_the_client_swallows_the_cancellation(
    redis_url: str, keys: str
) -> None:
    """redis-py can swallow a cancellation during a blocking read: stopping must still work."""
    app, pipeline, _ = build(redis_url, {"stream": f"{keys}-in", "group": "g", "block": 0.05})
    await app.start()
    client = app.locate_connection("redis").get_client()
    swallowed = []
    reading = asyncio.Event()

    async def swallowing_read(*args, **kwargs):
        # a read that blocks until it is cancelled, then swallows the cancellation and returns
        # nothing: what redis-py does when the cancellation comes at the wrong moment
        reading.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.append(True)
        return []

    client.xreadgroup = swallowing_read
    # stopped while the read blocks (a stop between two reads would test nothing)
    await asyncio.wait_for(reading.wait(), 5)
    code = await asyncio.wait_for(app.stop(timeout=5), 10)
    assert swallowed, "the cancellation did not reach the read (nothing tested)"
    assert code == 0
    [source] = pipeline.Sources
    assert source.task is not None and source.task.done(), "main() was left running"
