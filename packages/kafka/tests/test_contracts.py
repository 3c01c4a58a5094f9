"""pump.testing's delivery contracts, run against KafkaSource and KafkaSink on a real broker."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import pump
from pump.testing import SinkContract, SourceContract
from pump_kafka import KafkaConnection, KafkaSink, KafkaSource


def _connection(app: pump.Application, kafka: Any) -> str:
    if "kafka" not in app.Connections:
        app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    return "kafka"


class TestKafkaSourceContract(SourceContract):
    supports_redelivery = True
    expected_context_keys = (
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_key",
        "kafka_headers",
        "kafka_timestamp",
    )
    bad_configs = ({"group_id": ""}, {"max_batch": 0}, {"auto_offset_reset": "middle"})

    @pytest.fixture(autouse=True)
    def _broker(self, kafka: Any) -> None:
        self.kafka = kafka

    async def prepare(self) -> None:
        self.topic = await self.kafka.create_topic(partitions=2)
        self.group = self.kafka.name("group")

    def make_source(
        self, app: pump.Application, pipeline: pump.Pipeline, config: Any = None
    ) -> KafkaSource:
        merged = {**self.kafka.source_config(self.topic, self.group), **(config or {})}
        return KafkaSource(app, pipeline, _connection(app, self.kafka), config=merged)

    async def produce(self, events: list[Any]) -> None:
        await self.kafka.produce(self.topic, events)

    def decode(self, event: Any) -> Any:
        return orjson.loads(event)


class TestKafkaSinkContract(SinkContract):
    bad_configs = ({"acks": 0}, {"batch_bytes": 0}, {"compression_type": "brotli"})

    @pytest.fixture(autouse=True)
    def _broker(self, kafka: Any) -> None:
        self.kafka = kafka

    async def prepare(self) -> None:
        self.topic = await self.kafka.create_topic(partitions=2)

    def make_sink(
        self, app: pump.Application, pipeline: pump.Pipeline, config: Any = None
    ) -> KafkaSink:
        merged = {**self.kafka.sink_config(topic=self.topic), **(config or {})}
        return KafkaSink(app, pipeline, _connection(app, self.kafka), config=merged)

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> KafkaSink:
        # No output topic at all: the sink refuses every event at once (TopicMissing), the
        # honest prompt refusal a Kafka sink has (Tansu enforces no per-topic size limits).
        return KafkaSink(
            app, pipeline, _connection(app, self.kafka), config=self.kafka.sink_config(topic="")
        )

    async def read_back(self) -> list[Any]:
        return await self.kafka.read_json(self.topic, 2, quiet=0.3)
