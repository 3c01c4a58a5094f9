"""pump-amqp: RabbitMQ (AMQP 0-9-1) connection, source and sink for Pump, on aio-pika.

app.add_connection(AMQPConnection(app, "amqp", config={"url": "amqp://guest:guest@localhost/"}))
pipeline.build(
    AMQPSource(app, pipeline, "amqp", config={"queue": "in"}),
    ...,
    AMQPSink(app, pipeline, "amqp", config={"exchange": "out", "routing_key": "done"}),
)
"""

from pump_amqp.connection import AMQPConnection
from pump_amqp.errors import (
    AMQPConnectionError,
    AMQPError,
    AMQPPublishError,
    AMQPTopologyError,
    AMQPUnroutable,
)
from pump_amqp.sink import AMQPSink
from pump_amqp.source import AMQPFullMessageSource, AMQPSource

__version__ = "0.1.0"

__all__ = [
    "AMQPConnection",
    "AMQPConnectionError",
    "AMQPError",
    "AMQPFullMessageSource",
    "AMQPPublishError",
    "AMQPSink",
    "AMQPSource",
    "AMQPTopologyError",
    "AMQPUnroutable",
]
