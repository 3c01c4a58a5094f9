"""pump-http: HTTP and WebSocket sources and sinks on aiohttp, and Pump's admin API.

pipeline.build(
    HTTPServerSource(app, pipeline, config={"port": 8080, "path": "/hooks"}),
    ...,
)
"""

from pump_http.errors import (
    HTTPConnectorError,
    HTTPPermanentWriteError,
    HTTPResponseError,
    HTTPStatusError,
    WebSocketError,
)
from pump_http.server_source import HTTPServerSource

__version__ = "0.1.0"

__all__ = [
    "HTTPConnectorError",
    "HTTPPermanentWriteError",
    "HTTPResponseError",
    "HTTPServerSource",
    "HTTPStatusError",
    "WebSocketError",
]
