"""Errors the Kafka connector raises on purpose, each saying what to check."""

from __future__ import annotations

from pump import PumpError


class KafkaConnectorError(PumpError):
    """Base of the Kafka connector's own errors."""


class BrokerUnavailable(KafkaConnectorError):
    """No bootstrap server could be reached or authenticated against."""


class TopicMissing(KafkaConnectorError):
    """A topic the configuration names does not exist (and nothing was asked to create it)."""


class IdempotenceUnsupported(KafkaConnectorError):
    """The broker refused to give the producer an id, which idempotent producing needs."""
