"""pump-kafka: Kafka source, sink, key filter and topic initializer for Pump, on aiokafka."""

from pump_kafka.connection import KafkaConnection
from pump_kafka.errors import (
    BrokerUnavailable,
    IdempotenceUnsupported,
    KafkaConnectorError,
    TopicMissing,
)
from pump_kafka.key_filter import KafkaKeyFilter
from pump_kafka.sink import KafkaSink
from pump_kafka.source import KafkaSource
from pump_kafka.topic_initializer import KafkaTopicInitializer

__version__ = "0.1.0"

__all__ = [
    "BrokerUnavailable",
    "IdempotenceUnsupported",
    "KafkaConnection",
    "KafkaConnectorError",
    "KafkaKeyFilter",
    "KafkaSink",
    "KafkaSource",
    "KafkaTopicInitializer",
    "TopicMissing",
]
