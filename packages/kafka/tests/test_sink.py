"""KafkaSink on a real broker: topic → pipeline → topic keeps keys and headers, routes per event."""

from __future__ import annotations

from typing import Any

import orjson

import pump
from pump.common import JsonParser, JsonSerializer
from pump_kafka import (
    KafkaConnection,
    KafkaSink,
    KafkaSource,
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
    await kafka.produce(
        source_topic, [{"n": i} for i in range(40)], keys=keys, headers=[("origin", b"test")]
    )

    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        KafkaSource(
            app, pipeline, "kafka", config=kafka.source_config(source_topic, kafka.name("g"))
        ),
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
