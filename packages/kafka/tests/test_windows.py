"""pump.windows over a Kafka topic: one watermark per partition, state per partition, and an
idle partition that stops holding the watermark back."""

from __future__ import annotations

from typing import Any

import pump
from pump.common import JsonParser, ListSink
from pump.windows import TumblingWindow
from pump_kafka import KafkaConnection, KafkaSource


def build(kafka: Any, topic: str, group: str, idle: float) -> tuple[pump.Application, ListSink]:
    app = pump.Application()
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "windows")
    sink = ListSink(app, pipeline)
    window = TumblingWindow(
        app,
        pipeline,
        "window",
        config={
            "size": 10,
            "key": "user",
            "time": "ts",
            "idle_timeout": idle,
            "time_format": "epoch",
        },
    )
    source = KafkaSource(app, pipeline, "kafka", config=kafka.source_config(topic, group))
    pipeline.build(source, JsonParser(app, pipeline), window, sink)
    app.add_pipeline(pipeline)
    return app, sink


async def test_a_quiet_partition_holds_the_watermark_until_it_is_idle(kafka: Any) -> None:
    topic = await kafka.create_topic(partitions=2)
    await kafka.produce(topic, [{"ts": t, "user": "a"} for t in range(10)], partition=0)
    await kafka.produce(topic, [{"ts": t, "user": "b"} for t in range(6)], partition=1)
    app, sink = build(kafka, topic, kafka.name("g"), idle=3.0)
    window = app.Pipelines["windows"].locate_processor("window")
    await app.start()
    try:
        assert await kafka.wait_for(lambda: window.counters.events_in == 16, timeout=15)
        # partition 0 goes on to t=99; partition 1 stays at 5 and holds the watermark back
        await kafka.produce(topic, [{"ts": t, "user": "a"} for t in range(10, 100)], partition=0)
        assert await kafka.wait_for(lambda: window.counters.events_in == 106, timeout=15)
        assert sink.events == []
        assert window.Watermarks.value < 10
        # once partition 1 has been quiet for 3 s, partition 0 alone moves it on
        assert await kafka.wait_for(lambda: len(sink.events) == 10, timeout=15)
    finally:
        assert await app.stop() == 0
    rows = sorted((e["key"], e["start"], e["count"]) for e in sink.events)
    # every window of both partitions that ends by 99 (the one still open stays in state)
    assert rows == [("a", s, 10) for s in range(0, 90, 10)] + [("b", 0, 6)]
    assert window.counters.extra["late_events"] == 0
