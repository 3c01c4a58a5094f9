"""AMQPSink against a real RabbitMQ: confirms, unroutable messages, per-event routing, bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

import pump
from pump.common import JsonParser, JsonSerializer
from pump_amqp import AMQPPublishError, AMQPSink, AMQPSource, AMQPTopologyError, AMQPUnroutable

pytestmark = pytest.mark.service


async def started_sink(app: pump.Application, config: dict[str, Any]) -> AMQPSink:
    pipeline = pump.Pipeline(app, "p")
    sink = AMQPSink(app, pipeline, "amqp", config=config)
    for connection in app.Connections.values():
        await connection.start()
    await sink.start()
    return sink


async def test_write_completes_when_confirmed_and_messages_are_persistent(
    broker: Any, amqp_app: pump.Application
) -> None:
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "k")
    sink = await started_sink(
        amqp_app, {"exchange": exchange, "routing_key": "k", "headers": {"origin": "pump"}}
    )
    pending = sink.write([b"raw", "text", {"json": 1}], [{}, {}, {}])
    assert pending is not None
    await pending
    messages = await broker.take(queue)
    assert [m.body for m in messages] == [b"raw", b"text", b'{"json":1}']
    assert [m.content_type for m in messages] == [None, "text/plain", "application/json"]
    assert {m.delivery_mode for m in messages} == {2}
    assert all(m.headers == {"origin": "pump"} for m in messages)
    assert all(m.message_id for m in messages)
    await sink.stop()


async def test_unroutable_messages_fail_their_events_only(
    broker: Any, amqp_app: pump.Application
) -> None:
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "bound")
    sink = await started_sink(amqp_app, {"exchange": exchange, "routing_key": "bound"})
    contexts = [{}, {"amqp_sink_routing_key": "nowhere"}, {}, {"amqp_sink_routing_key": "nowhere"}]
    pending = sink.write([b"0", b"1", b"2", b"3"], contexts)
    assert pending is not None
    with pytest.raises(pump.PartialWriteError) as caught:
        await pending
    assert sorted(caught.value.errors) == [1, 3]
    error = caught.value.errors[1]
    assert isinstance(error, AMQPPublishError)
    assert "routing key 'nowhere'" in str(error) and exchange in str(error)
    assert [m.body for m in await broker.take(queue)] == [b"0", b"2"]
    await sink.stop()


async def test_a_missing_per_event_exchange_fails_only_its_events(
    broker: Any, amqp_app: pump.Application
) -> None:
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "k")
    sink = await started_sink(amqp_app, {"exchange": exchange, "routing_key": "k"})
    missing = broker.name("no-such-exchange")
    pending = sink.write([b"a", b"b", b"c"], [{}, {"amqp_sink_exchange": missing}, {}])
    assert pending is not None
    with pytest.raises(pump.PartialWriteError) as caught:
        await pending
    assert list(caught.value.errors) == [1]
    assert isinstance(caught.value.errors[1], AMQPTopologyError)
    assert f"exchange '{missing}' does not exist" in str(caught.value.errors[1])
    assert [m.body for m in await broker.take(queue)] == [b"a", b"c"]
    # the publishing channel survived: the next write works on it
    pending = sink.write([b"d"], [{}])
    assert pending is not None
    await pending
    assert sink.channels_opened == 1
    await sink.stop()


async def test_context_overrides_exchange_routing_key_headers_and_properties(
    broker: Any, amqp_app: pump.Application, wait: Any
) -> None:
    default_exchange = await broker.exchange()
    other_exchange = await broker.exchange(type="topic")
    default_queue, routed_queue, source_queue = (
        await broker.queue(),
        await broker.queue(),
        await broker.queue(),
    )
    await broker.bind(default_queue, default_exchange, "default")
    await broker.bind(routed_queue, other_exchange, "route.#")
    await broker.publish([{"n": 1, "route": True}, {"n": 2, "route": False}], queue=source_queue)

    class Route(pump.Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            event = orjson.loads(event)
            if event["route"]:
                context["amqp_sink_exchange"] = other_exchange
                context["amqp_sink_routing_key"] = f"route.{event['n']}"
                context["amqp_sink_headers"] = {"n": event["n"]}
                context["amqp_sink_properties"] = {
                    "correlation_id": "corr",
                    "priority": 3,
                    "type": "routed",
                }
            return event

    from pump_amqp import AMQPSource

    pipeline = pump.Pipeline(amqp_app, "p")
    source = AMQPSource(amqp_app, pipeline, "amqp", config={"queue": source_queue})
    sink = AMQPSink(
        amqp_app,
        pipeline,
        "amqp",
        config={"exchange": default_exchange, "routing_key": "default", "headers": {"h": "x"}},
    )
    pipeline.build(source, Route(amqp_app, pipeline, "route"), sink)
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()
    assert await wait(lambda: source.acknowledged == 2)
    routed = await broker.take(routed_queue)
    plain = await broker.take(default_queue)
    assert [orjson.loads(m.body)["n"] for m in routed] == [1]
    assert routed[0].routing_key == "route.1"
    assert routed[0].headers == {"h": "x", "n": 1}
    assert (
        routed[0].correlation_id == "corr"
        and routed[0].priority == 3
        and routed[0].type == "routed"
    )
    # the input's routing key (the source queue's name) is not echoed: the default applies
    assert [orjson.loads(m.body)["n"] for m in plain] == [2]
    assert plain[0].routing_key == "default" and plain[0].headers == {"h": "x"}


async def test_missing_exchange_fails_the_start_and_declare_creates_it(
    broker: Any, amqp_app: pump.Application
) -> None:
    missing = broker.name("x")
    with pytest.raises(AMQPTopologyError, match=f"exchange '{missing}' does not exist"):
        await started_sink(amqp_app, {"exchange": missing})
    broker.forget_later(exchange=missing)
    sink = await started_sink(
        amqp_app, {"exchange": missing, "declare": True, "exchange_type": "fanout"}
    )
    queue = await broker.queue()
    await broker.bind(queue, missing)
    pending = sink.write([b"x"], [{}])
    assert pending is not None
    await pending
    assert [m.body for m in await broker.take(queue)] == [b"x"]
    await sink.stop()


async def test_bad_property_fails_only_its_event(broker: Any, amqp_app: pump.Application) -> None:
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "k")
    sink = await started_sink(amqp_app, {"exchange": exchange, "routing_key": "k"})
    pending = sink.write([b"ok", b"bad"], [{}, {"amqp_sink_properties": {"colour": "red"}}])
    assert pending is not None
    with pytest.raises(pump.PartialWriteError) as caught:
        await pending
    assert list(caught.value.errors) == [1] and "colour" in str(caught.value.errors[1])
    assert [m.body for m in await broker.take(queue)] == [b"ok"]
    await sink.stop()


async def test_without_aiormq_internals_messages_are_published_one_by_one(
    broker: Any, amqp_app: pump.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pump_amqp import publishing

    monkeypatch.setattr(publishing, "batch_write_supported", lambda channel: False)
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "k")
    sink = await started_sink(amqp_app, {"exchange": exchange, "routing_key": "k"})
    pending = sink.write([b"1", b"2", b"3"], [{}, {"amqp_sink_routing_key": "nowhere"}, {}])
    assert pending is not None
    with pytest.raises(pump.PartialWriteError) as caught:
        await pending
    assert list(caught.value.errors) == [1] and isinstance(caught.value.errors[1], AMQPPublishError)
    assert [m.body for m in await broker.take(queue)] == [b"1", b"3"]
    await sink.stop()


async def test_unroutable_and_unserializable_events_are_dead_lettered_without_retries(
    broker: Any, amqp_app: pump.Application, caplog: Any
) -> None:
    exchange = await broker.exchange()
    queue = await broker.queue()
    await broker.bind(queue, exchange, "bound")

    class Route(pump.Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            if event.get("to"):
                context["amqp_sink_routing_key"] = event["to"]
            return event

    # sink_retries: -1 (forever): only a failure known to be permanent reaches the dead letters
    pipeline = pump.Pipeline(amqp_app, "p", config={"on_error": "dead_letter"})
    dead = pump.common.ListSink(amqp_app, pipeline, "dead")
    events = [{"n": 1}, {"n": 2, "to": "nowhere"}, {"n": {3}}, {"n": 4}]
    pipeline.build(
        pump.common.IteratorSource(amqp_app, pipeline, lambda: iter(events)),
        Route(amqp_app, pipeline),
        AMQPSink(amqp_app, pipeline, "amqp", config={"exchange": exchange, "routing_key": "bound"}),
    )
    pipeline.set_dead_letter(dead)
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()
    for _ in range(500):
        if pipeline.in_flight == 0 and pipeline.sources_finished():
            break
        await asyncio.sleep(0.01)
    assert [orjson.loads(m.body) for m in await broker.take(queue)] == [{"n": 1}, {"n": 4}]
    by_error = {d["error"].split(":")[0]: d["event"]["n"] for d in dead.events}
    assert by_error == {"PermanentWriteError": [3], "AMQPUnroutable": 2}
    unroutable = next(d for d in dead.events if d["event"]["n"] == 2)
    assert "routing key 'nowhere'" in unroutable["error"]
    assert "retry" not in caplog.text
    assert issubclass(AMQPUnroutable, AMQPPublishError) and issubclass(
        AMQPUnroutable, pump.PermanentWriteError
    )


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
    source = AMQPSource(
        amqp_app, pipeline, "amqp", config={"queue": source_queue, "batch_size": 64}
    )
    sink = AMQPSink(
        amqp_app, pipeline, "amqp", config={"exchange": exchange, "routing_key": "done"}
    )
    pipeline.build(
        source,
        JsonParser(amqp_app, pipeline),
        Enrich(amqp_app, pipeline),
        JsonSerializer(amqp_app, pipeline),
        sink,
    )
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
