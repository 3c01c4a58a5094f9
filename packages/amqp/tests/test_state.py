"""A stateful pipeline over RabbitMQ: the messages a processor absorbs into state are acknowledged
at checkpoints, and the source's prefetch count makes the pipeline checkpoint often enough that
consuming never stalls (even with a checkpoint interval of an hour)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pump
from pump.testing.state import KeyCounter
from pump_amqp import AMQPSource


async def test_absorbed_messages_are_acknowledged_at_checkpoints(
    amqp_app: Any, broker: Any, wait: Any
) -> None:
    queue = await broker.queue()
    keys = [f"k{i % 7}" for i in range(3000)]
    await broker.publish([{"key": k} for k in keys], queue=queue)
    pipeline = pump.Pipeline(amqp_app, "p", config={"checkpoint_interval": 3600})
    source = AMQPSource(amqp_app, pipeline, "amqp", config={"queue": queue, "prefetch_count": 100})
    counter = KeyCounter(amqp_app, pipeline, "counter", config={"field": "key"})
    pipeline.build(source, counter, pump.common.null.NullSink(amqp_app, pipeline))
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()
    # 3,000 messages through a prefetch of 100: only checkpoints every 50 let them through
    assert await wait(lambda: counter.counters.events_in == 3000, 30)
    # all but the last checkpoint's worth are acknowledged without waiting for the hour
    assert await wait(lambda: source.acknowledged >= 3000 - 50)
    assert pipeline.checkpointer.written > 10 and pipeline.checkpointer.events == 50
    assert dict(counter.state.items()) == Counter(keys)  # RabbitMQ has no partitions: one
    assert await amqp_app.stop() == 0  # the final checkpoint acknowledges the rest
    assert source.acknowledged == 3000
    assert await broker.count(queue) == 0
