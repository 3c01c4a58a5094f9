"""AMQPSource against a real RabbitMQ: metadata, batches, acks, backpressure, topology."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import orjson
import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

import pump
from pump.metrics import metric_families
from pump_amqp import AMQPFullMessageSource, AMQPSource
from pump_amqp import settlement as settlement_module

pytestmark = pytest.mark.service


def build(
    app: pump.Application,
    source_config: dict[str, Any],
    sink: Any,
    cls: type[AMQPSource] = AMQPSource,
) -> tuple[pump.Pipeline, AMQPSource]:
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.01})
    source = cls(app, pipeline, "amqp", config=source_config)
    pipeline.build(source, sink(app, pipeline, "sink"))
    app.add_pipeline(pipeline)
    return pipeline, source


@pytest.fixture
def sent_frames(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ack/nack/reject frame the sources send."""
    frames: list[Any] = []
    original = ChannelFrame.marshall

    class Recording:
        @staticmethod
        def marshall(channel_number: int, frames_: list[Any], **kwargs: Any) -> Any:
            frames.extend(frames_)
            return original(channel_number=channel_number, frames=frames_, **kwargs)

    def marshall(*, channel_number: int, frames: list[Any]) -> Any:
        return Recording.marshall(channel_number, frames)

    monkeypatch.setattr(
        settlement_module, "ChannelFrame", type("F", (), {"marshall": staticmethod(marshall)})
    )
    return frames


async def test_context_carries_routing_key_exchange_headers_and_properties(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any
) -> None:
    queue = await broker.queue()
    exchange = await broker.exchange()
    await broker.bind(queue, exchange, "rk.one")
    stamp = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    await broker.publish(
        [b"hello"],
        exchange=exchange,
        routing_key="rk.one",
        headers={"h": "v", "n": 3},
        message_id="m-1",
        correlation_id="c-1",
        content_type="text/plain",
        timestamp=stamp,
        app_id="tester",
    )
    pipeline, _source = build(amqp_app, {"queue": queue}, recording_sink)
    await amqp_app.start()
    sink = pipeline.sink
    assert await wait(lambda: len(sink.outputs) == 1)
    context, event = sink.outputs[0]
    assert event == b"hello"
    assert context["amqp_queue"] == queue
    assert context["amqp_routing_key"] == "rk.one"
    assert context["amqp_exchange"] == exchange
    assert context["amqp_headers"] == {"h": "v", "n": 3}
    assert context["amqp_redelivered"] is False
    assert isinstance(context["amqp_delivery_tag"], int)
    properties = context["amqp_properties"]
    assert properties["message_id"] == "m-1"
    assert properties["correlation_id"] == "c-1"
    assert properties["content_type"] == "text/plain"
    assert properties["app_id"] == "tester"
    assert properties["delivery_mode"] == 2
    assert properties["timestamp"].replace(tzinfo=datetime.UTC) == stamp


async def test_full_message_source_emits_the_whole_message(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any
) -> None:
    queue = await broker.queue()
    await broker.publish([b"body"], queue=queue, headers={"k": "v"}, message_id="id-7")
    pipeline, _ = build(amqp_app, {"queue": queue}, recording_sink, AMQPFullMessageSource)
    await amqp_app.start()
    assert await wait(lambda: len(pipeline.sink.outputs) == 1)
    context, event = pipeline.sink.outputs[0]
    assert event["body"] == b"body"
    assert event["routing_key"] == queue and event["exchange"] == ""
    assert event["headers"] == {"k": "v"}
    assert event["properties"]["message_id"] == "id-7"
    assert event["redelivered"] is False
    assert event["delivery_tag"] == context["amqp_delivery_tag"]


async def test_in_order_batches_are_acknowledged_with_one_multiple_ack_each(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any, sent_frames: list[Any]
) -> None:
    queue = await broker.queue()
    await broker.publish([{"i": i} for i in range(100)], queue=queue)
    pipeline, source = build(amqp_app, {"queue": queue, "batch_size": 25}, recording_sink)
    await amqp_app.start()
    assert await wait(lambda: source.acknowledged == 100)
    await amqp_app.stop()
    assert pipeline.metrics()["components"][source.Id]["acknowledged"] == 100
    acks = [f for f in sent_frames if isinstance(f, spec.Basic.Ack)]
    assert acks and all(f.multiple for f in acks), acks
    assert len(acks) <= 100 // 25 + 3  # one per batch (a batch may be short)
    assert acks[-1].delivery_tag == 100
    assert await broker.count(queue) == 0


async def test_batches_done_out_of_order_are_acknowledged_one_by_one_without_acking_earlier_ones(
    broker: Any, amqp_app: pump.Application, wait: Any, sent_frames: list[Any]
) -> None:
    queue = await broker.queue()
    await broker.publish([{"i": i} for i in range(60)], queue=queue)

    class FirstWriteWaits(pump.Sink):
        """The first batch is written only when the test opens the gate; later ones at once."""

        def __init__(self, app: Any, pipeline: Any, id: str) -> None:
            super().__init__(app, pipeline, id)
            self.gate = asyncio.Event()
            self.first_tags: list[int] | None = None

        def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Any:
            if self.first_tags is None:
                self.first_tags = [c["amqp_delivery_tag"] for c in contexts]
                return self.gate.wait()
            return None

    pipeline, source = build(amqp_app, {"queue": queue, "batch_size": 20}, FirstWriteWaits)
    sink = pipeline.sink
    await amqp_app.start()
    # the later batches are done and acknowledged while the first one is still in the sink
    assert await wait(
        lambda: sink.first_tags is not None and source.acknowledged == 60 - len(sink.first_tags)
    )
    assert sink.first_tags == list(range(1, len(sink.first_tags) + 1))
    early_acks = [f for f in sent_frames if isinstance(f, spec.Basic.Ack)]
    assert early_acks and all(not f.multiple for f in early_acks), (
        "a multiple ack would also ack the first batch"
    )
    assert not set(sink.first_tags) & {f.delivery_tag for f in early_acks}
    sink.gate.set()
    assert await wait(lambda: source.acknowledged == 60)
    assert await amqp_app.stop() == 0
    last = [f for f in sent_frames if isinstance(f, spec.Basic.Ack)][-1]
    assert last.multiple and last.delivery_tag == sink.first_tags[-1]
    # no channel error from a bad delivery tag (the source would have reopened its channel)
    assert source.generation == 1
    assert await broker.count(queue) == 0


async def test_prefetch_count_bounds_unacknowledged_deliveries(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any
) -> None:
    queue = await broker.queue()
    await broker.publish([{"i": i} for i in range(100)], queue=queue)
    pipeline, source = build(
        amqp_app, {"queue": queue, "prefetch_count": 10, "batch_size": 4}, recording_sink
    )
    pipeline.sink.gate = asyncio.Event()
    await amqp_app.start()
    assert await wait(lambda: pipeline.in_flight == 10)
    await asyncio.sleep(0.3)
    assert pipeline.in_flight == 10  # no more than prefetch_count handed over
    assert await broker.count(queue) == 90  # the rest waits in the broker, not in memory
    pipeline.sink.gate.set()
    assert await wait(lambda: source.acknowledged == 100)
    assert sorted(orjson.loads(e)["i"] for e in pipeline.sink.events) == list(range(100))


async def test_a_rejected_batch_is_requeued_and_delivered_again(
    broker: Any, amqp_app: pump.Application, wait: Any
) -> None:
    queue = await broker.queue()
    await broker.publish([{"i": i} for i in range(5)], queue=queue)

    class FailOnce(pump.Sink):
        def __init__(self, app: Any, pipeline: Any, id: str) -> None:
            super().__init__(app, pipeline, id)
            self.seen: list[tuple[bool, bytes]] = []

        def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
            self.seen.extend(
                (c["amqp_redelivered"], e) for c, e in zip(contexts, events, strict=True)
            )
            if len(self.seen) <= 5:
                raise ConnectionError("the first write fails")

    pipeline = pump.Pipeline(amqp_app, "p", config={"sink_retries": 0})
    source = AMQPSource(amqp_app, pipeline, "amqp", config={"queue": queue, "batch_linger": 0.05})
    pipeline.build(source, FailOnce(amqp_app, pipeline, "sink"))
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()
    assert await wait(lambda: pipeline.is_error())
    await amqp_app.stop(timeout=1)
    assert source.requeued == 5
    counted = pipeline.metrics()["components"][source.Id]
    assert (counted["requeued"], counted["acknowledged"]) == (5, 0)
    requeued = metric_families(amqp_app.metrics())["pump_component_requeued"]
    assert requeued.value(pipeline="p", component=source.Id) == 5
    # a fresh run gets every message again, flagged redelivered
    app2 = pump.Application(exit_when_finished=False, tune_runtime=False)
    app2.add_connection(
        type(amqp_app.Connections["amqp"])(app2, "amqp", config={"url": broker.url})
    )
    pipeline2 = pump.Pipeline(app2, "p")
    sink2 = FailOnce(app2, pipeline2, "sink")
    sink2.seen = [(False, b"")] * 5  # never fails
    pipeline2.build(AMQPSource(app2, pipeline2, "amqp", config={"queue": queue}), sink2)
    app2.add_pipeline(pipeline2)
    await app2.start()
    try:
        assert await wait(lambda: len(sink2.seen) == 10)
    finally:
        await app2.stop()
    again = sink2.seen[5:]
    assert all(redelivered for redelivered, _ in again)
    assert sorted(orjson.loads(body)["i"] for _, body in again) == list(range(5))


async def test_declare_creates_queue_exchange_binding_and_dead_letter_exchange(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any
) -> None:
    queue, exchange, dlx = broker.name("q"), broker.name("x"), broker.name("dlx")
    broker.forget_later(queue=queue, exchange=exchange)
    broker.forget_later(exchange=dlx)
    pipeline, _source = build(
        amqp_app,
        {
            "queue": queue,
            "declare": True,
            "exchange": exchange,
            "exchange_type": "topic",
            "routing_keys": ["a.*", "b.#"],
            "dead_letter_exchange": dlx,
            "queue_arguments": {"x-max-length": 1000},
            "on_reject": "dead_letter",
        },
        recording_sink,
    )
    await amqp_app.start()
    await broker.publish([b"1"], exchange=exchange, routing_key="a.x")
    await broker.publish([b"2"], exchange=exchange, routing_key="b.y.z")
    await broker.publish([b"3"], exchange=exchange, routing_key="c.nothing")
    assert await wait(lambda: len(pipeline.sink.outputs) == 2)
    assert sorted(pipeline.sink.events) == [b"1", b"2"]
    # the dead-letter exchange is declared and set on the queue: a rejected message lands there
    dead = await broker.queue()
    await broker.bind(dead, dlx)
    await amqp_app.stop()
    await broker.publish([b"poison"], exchange=exchange, routing_key="a.p")

    app2 = pump.Application(exit_when_finished=False, tune_runtime=False)
    app2.add_connection(
        type(amqp_app.Connections["amqp"])(app2, "amqp", config={"url": broker.url})
    )
    pipeline2 = pump.Pipeline(app2, "p", config={"sink_retries": 0})

    class Refuse(pump.Sink):
        def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
            raise ValueError("refused")

    pipeline2.build(
        AMQPSource(
            app2,
            pipeline2,
            "amqp",
            config={
                "queue": queue,
                "declare": True,
                "dead_letter_exchange": dlx,
                "queue_arguments": {"x-max-length": 1000},
                "on_reject": "dead_letter",
            },
        ),
        Refuse(app2, pipeline2, "refuse"),
    )
    app2.add_pipeline(pipeline2)
    await app2.start()
    try:
        assert await wait(lambda: pipeline2.is_error())
    finally:
        await app2.stop(timeout=1)
    assert await broker.wait_count(dead, 1, timeout=5) == 1
    assert [m.body for m in await broker.take(dead)] == [b"poison"]
    assert await broker.count(queue) == 0


async def test_a_queue_deleted_while_consuming_stops_the_pipeline_with_a_clear_error(
    broker: Any, amqp_app: pump.Application, recording_sink: Any, wait: Any
) -> None:
    queue = await broker.queue()
    pipeline, _ = build(amqp_app, {"queue": queue}, recording_sink)
    await amqp_app.start()
    await broker.publish([b"x"], queue=queue)
    assert await wait(lambda: len(pipeline.sink.outputs) == 1)
    channel = await broker._channel()
    await channel.queue_delete(queue)
    assert await wait(lambda: pipeline.is_error(), timeout=10)
    assert pipeline.error is not None
    assert f"queue '{queue}' does not exist" in str(pipeline.error.error)
