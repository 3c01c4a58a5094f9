"""pump-http: HTTP and WebSocket sources and sinks on aiohttp, and Pump's admin API.

pipeline.build(
    HTTPClientSource(app, pipeline, config={"url": "https://api.example.com/v1/prices"}).on(
        pump.PeriodicTrigger(app, 5)
    ),
    ...,
    HTTPSink(app, pipeline, config={"url": "https://api.example.com/items/{id}"}),
)
"""

from pump_http.client_source import HTTPClientSource
from pump_http.errors import (
    HTTPConnectorError,
    HTTPPermanentWriteError,
    HTTPResponseError,
    HTTPStatusError,
    WebSocketError,
)
from pump_http.server_source import HTTPServerSource
from pump_http.sink import HTTPSink
from pump_http.websocket_client import WebSocketClientSource
from pump_http.websocket_server import WebSocketServerSource
from pump_http.websocket_sink import WebSocketSink

__version__ = "0.1.0"

__all__ = [
    "HTTPClientSource",
    "HTTPConnectorError",
    "HTTPPermanentWriteError",
    "HTTPResponseError",
    "HTTPServerSource",
    "HTTPSink",
    "HTTPStatusError",
    "WebSocketClientSource",
    "WebSocketError",
    "WebSocketServerSource",
    "WebSocketSink",
]
