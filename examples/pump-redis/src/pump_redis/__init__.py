"""pump-redis: Redis Streams source and sink for Pump, on redis-py's asyncio client."""

from __future__ import annotations

from pump_redis.connection import RedisConnection
from pump_redis.sink import RedisStreamSink
from pump_redis.source import RedisStreamSource

__version__ = "0.1.0"

__all__ = ["RedisConnection", "RedisStreamSink", "RedisStreamSource", "__version__"]
