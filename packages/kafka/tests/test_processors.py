"""The Kafka processors: KafkaKeyFilter keeps listed keys, KafkaTopicInitializer creates topics."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_kafka import (
    KafkaConnection,
    KafkaKeyFilter,
    KafkaSink,
    KafkaSource,
    KafkaTopicInitializer,
)


async def test_key_filter_and_topic_initializer_in_a_pipeline(kafka: Any) -> None:
    source_topic = kafka.name("created-in")
    out_topic = kafka.name("created-out")
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    initializer = KafkaTopicInitializer(
        app,
        pipeline,
        "kafka",
        config={
            "topics": [{"name": source_topic, "partitions": 3}, out_topic],
        },
    )
    pipeline.build(
        KafkaSource(
            app, pipeline, "kafka", config=kafka.source_config(source_topic, kafka.name("g"))
        ),
        initializer,
        KafkaKeyFilter(app, pipeline, ["keep"]),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic=out_topic)),
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert sorted(initializer.created) == sorted([source_topic, out_topic])
        assert {source_topic, out_topic} <= await kafka.topics()
        await kafka.produce(
            source_topic, [b"1", b"2", b"3", b"4"], keys=[b"keep", b"drop", b"keep", None]
        )
        assert await kafka.wait_for(lambda: pipeline.counters.events_in == 4)
        assert await kafka.wait_for(lambda: pipeline.in_flight == 0)
    finally:
        assert await app.stop() == 0
    out = await kafka.read(out_topic, 1, count=2)
    assert sorted(r.value for r in out) == [b"1", b"3"]
    assert pipeline.metrics()["components"]["KafkaKeyFilter"]["dropped"] == 2
    # A second initializer finds the topics there and creates nothing.
    again = KafkaTopicInitializer(
        app, pipeline, "kafka", id="again", config={"topics": [source_topic]}
    )
    assert await again.initialize() == []


def test_key_filter_keeps_only_listed_keys() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    keep = KafkaKeyFilter(app, pipeline, [b"a", "b"], config={"keep_keys": ["c"]})
    assert keep.keys == {b"a", b"b", b"c"}
    assert keep.process({"kafka_key": b"a"}, "x") == "x"
    assert keep.process({"kafka_key": "c"}, "y") == "y"
    assert keep.process({"kafka_key": b"z"}, "z") is None
    assert keep.process({"kafka_key": None}, "n") is None
    assert keep.process({}, "n") is None
    custom = KafkaKeyFilter(app, pipeline, config={"keep_keys": ["k"], "context_key": "route"})
    assert custom.process({"route": b"k"}, 1) == 1


def test_topic_initializer_applies_defaults(offline_app: Any) -> None:
    app = offline_app()
    init = KafkaTopicInitializer(
        app,
        pump.Pipeline(app, "p"),
        "kafka",
        config={
            "topics": [
                "plain",
                {"name": "big", "partitions": 8, "config": {"retention.ms": "1000"}},
            ],
            "partitions": 3,
            "topic_config": {"cleanup.policy": "delete"},
        },
    )
    specs = {t.name: t for t in init.specs()}
    assert specs["plain"].num_partitions == 3
    assert specs["big"].num_partitions == 8
    assert specs["big"].topic_configs == {"cleanup.policy": "delete", "retention.ms": "1000"}
    assert init.process({}, "event") == "event"
    with pytest.raises(pump.ConfigError):
        KafkaTopicInitializer(
            app, pump.Pipeline(app, "q"), "kafka", config={"topics": [{"name": "x", "size": 1}]}
        )
