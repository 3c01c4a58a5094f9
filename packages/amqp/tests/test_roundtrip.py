"""Round trip against a real RabbitMQ: queue → AMQPSource → processors → AMQPSink → exchange → queue."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import pump
from pump.common import JsonParser, JsonSerializer
from pump_amqp import AMQPSink, AMQPSource

pytestmark = pytest.mark.service


class Enrich(pump.Processor):
    """Adds a field, and copies some of the input's metadata into the event."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        event["processed"] = True
        event["from_queue"] = context["amqp_queue"]
        event["input_routing_key"] = context["amqp_routing_key"]
        return event


async def test_messages_go_from_a_queue_through_the_pipeline_to_an_exchange(
    broker: Any, amqp_app: pump.Application, wait: Any
) -> None:
    source_queue = await broker.queue()
    exchange = await broker.exchange()
    output = await broker.queue()
    await broker.bind(output, exchange, "done")
    events = [{"id": i, "text": f"message {i}"} for i in range(300)]
    await broker.publish(events, queue=source_queue)

    pipeline = pump.Pipeline(amqp_app, "roundtrip")
    source = AMQPSource(amqp_app, pipeline, "amqp", config={"queue": source_queue, "batch_size": 64})
    sink = AMQPSink(amqp_app, pipeline, "amqp", config={"exchange": exchange, "routing_key": "done"})
    pipeline.build(source, JsonParser(amqp_app, pipeline), Enrich(amqp_app, pipeline), JsonSerializer(amqp_app, pipeline), sink)
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()

    assert await wait(lambda: pipeline.counters.events_out == len(events))
    assert await amqp_app.stop() == 0

    messages = await broker.take(output)
    received = [orjson.loads(m.body) for m in messages]
    assert sorted(received, key=lambda e: e["id"]) == [
        {**e, "processed": True, "from_queue": source_queue, "input_routing_key": source_queue}
        for e in events
    ]
    # persistent, JSON-typed messages, published through the configured exchange and key
    assert {m.delivery_mode for m in messages} == {aio_delivery_mode_persistent()}
    assert {m.exchange for m in messages} == {exchange}
    assert {m.routing_key for m in messages} == {"done"}
    # every input message was acknowledged: none is left, and none came twice
    assert await broker.count(source_queue) == 0
    assert len(received) == len(events)
    assert source.acknowledged == len(events)
    assert source.generation == 1 and source.stale() == 0


def aio_delivery_mode_persistent() -> int:
    import aio_pika

    return int(aio_pika.DeliveryMode.PERSISTENT)
