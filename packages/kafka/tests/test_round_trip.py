"""Topic → pipeline → topic against a real broker: keys, headers, per-event routing, key filter."""

from __future__ import annotations

from typing import Any

import orjson

import pump
from pump.common import JsonParser, JsonSerializer
from pump_kafka import (
    KafkaConnection,
    KafkaKeyFilter,
    KafkaSink,
    KafkaSource,
    KafkaTopicInitializer,
)


class Route(pump.Processor):
    """Sends odd events to another topic and tags every event with a header."""

    writes_context = True

    def __init__(self, app: Any, pipeline: Any, odd_topic: str) -> None:
        super().__init__(app, pipeline)
        self.odd_topic = odd_topic

    def process(self, context: dict[str, Any], event: Any) -> Any:
        if event["n"] % 2:
            context["kafka_sink_topic"] = self.odd_topic
        context["kafka_headers"] = [*context["kafka_headers"], ("seen-by", b"pump")]
        event["from_offset"] = context["kafka_offset"]
        return event


async def test_round_trip_keeps_keys_and_headers_and_routes_per_event(kafka: Any) -> None:
    source_topic = await kafka.create_topic(partitions=2)
    even_topic = await kafka.create_topic(partitions=2)
    odd_topic = await kafka.create_topic(partitions=1)
    keys = [f"key-{i % 5}".encode() for i in range(40)]
    await kafka.produce(source_topic, [{"n": i} for i in range(40)], keys=keys, headers=[("origin", b"test")])

    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        KafkaSource(app, pipeline, "kafka", config=kafka.source_config(source_topic, kafka.name("g"))),
        JsonParser(app, pipeline),
        Route(app, pipeline, odd_topic),
        JsonSerializer(app, pipeline),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic=even_topic)),
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(lambda: pipeline.counters.events_out == 40)
    finally:
        assert await app.stop() == 0

    even = await kafka.read(even_topic, 2, count=20)
    odd = await kafka.read(odd_topic, 1, count=20)
    assert sorted(orjson.loads(r.value)["n"] for r in even) == list(range(0, 40, 2))
    assert sorted(orjson.loads(r.value)["n"] for r in odd) == list(range(1, 40, 2))
    for record in [*even, *odd]:
        n = orjson.loads(record.value)["n"]
        assert record.key == keys[n]
        assert list(record.headers) == [("origin", b"test"), ("seen-by", b"pump")]
    # Same key → same output partition (the key decides, as Kafka's default partitioner does).
    partition_of_key: dict[bytes, set[int]] = {}
    for record in even:
        partition_of_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in partition_of_key.values())
    # Everything is committed: the group's offsets are at the end of each partition.
    committed = await kafka.committed(pipeline.Sources[0].Config.group_id, source_topic, 2)
    per_partition = {p: 0 for p in range(2)}
    for record in await kafka.read(source_topic, 2, count=40):
        per_partition[record.partition] = max(per_partition[record.partition], record.offset + 1)
    assert committed == per_partition


async def test_context_carries_the_record_metadata(kafka: Any) -> None:
    topic = await kafka.create_topic()
    await kafka.produce(topic, [b"a", b"b"], keys=[b"k1", None], headers=[("h", b"v")])
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    sink = pump.common.ListSink(app, pipeline)
    pipeline.build(KafkaSource(app, pipeline, "kafka", config=kafka.source_config(topic, kafka.name("g"))), sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(lambda: pipeline.counters.events_out == 2)
    finally:
        await app.stop()
    assert sink.events == [b"a", b"b"]
    first, second = sink.contexts
    assert (first["kafka_offset"], second["kafka_offset"]) == (0, 1)
    assert first["kafka_topic"] == topic and first["kafka_partition"] == 0
    assert first["kafka_key"] == b"k1" and second["kafka_key"] is None
    assert list(first["kafka_headers"]) == [("h", b"v")]
    assert isinstance(first["kafka_timestamp"], int) and first["kafka_timestamp"] > 0


async def test_key_filter_and_topic_initializer_in_a_pipeline(kafka: Any) -> None:
    source_topic = kafka.name("created-in")
    out_topic = kafka.name("created-out")
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    initializer = KafkaTopicInitializer(app, pipeline, "kafka", config={
        "topics": [{"name": source_topic, "partitions": 3}, out_topic],
    })
    pipeline.build(
        KafkaSource(app, pipeline, "kafka", config=kafka.source_config(source_topic, kafka.name("g"))),
        initializer,
        KafkaKeyFilter(app, pipeline, ["keep"]),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic=out_topic)),
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert sorted(initializer.created) == sorted([source_topic, out_topic])
        assert {source_topic, out_topic} <= await kafka.topics()
        await kafka.produce(source_topic, [b"1", b"2", b"3", b"4"], keys=[b"keep", b"drop", b"keep", None])
        assert await kafka.wait_for(lambda: pipeline.counters.events_in == 4)
        assert await kafka.wait_for(lambda: pipeline.in_flight == 0)
    finally:
        assert await app.stop() == 0
    out = await kafka.read(out_topic, 1, count=2)
    assert sorted(r.value for r in out) == [b"1", b"3"]
    assert pipeline.metrics()["components"]["KafkaKeyFilter"]["dropped"] == 2
    # A second initializer finds the topics there and creates nothing.
    again = KafkaTopicInitializer(app, pipeline, "kafka", id="again", config={"topics": [source_topic]})
    assert await again.initialize() == []
