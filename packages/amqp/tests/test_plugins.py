"""pump-amqp's entry points: each loads its class, is configured and described the one way."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_amqp import AMQPConnection, AMQPFullMessageSource, AMQPSink, AMQPSource


class TestPlugins(PluginContract):
    distribution = "pump-amqp"
    declared = {
        ("connection", "amqp"): AMQPConnection,
        ("source", "amqp"): AMQPSource,
        ("source", "amqp.full_message"): AMQPFullMessageSource,
        ("sink", "amqp"): AMQPSink,
    }
