"""pump-kafka's entry points: each loads its class, is configured and described the one way."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_kafka import (
    KafkaConnection,
    KafkaKeyFilter,
    KafkaSink,
    KafkaSource,
    KafkaTopicInitializer,
)


class TestPlugins(PluginContract):
    distribution = "pump-kafka"
    declared = {
        ("connection", "kafka"): KafkaConnection,
        ("source", "kafka"): KafkaSource,
        ("sink", "kafka"): KafkaSink,
        ("processor", "kafka.key_filter"): KafkaKeyFilter,
        ("processor", "kafka.topic_initializer"): KafkaTopicInitializer,
    }
