"""Every entry point of pump-http loads its class, with a described module-level config model."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_http import (
    HTTPClientSource,
    HTTPServerSource,
    HTTPSink,
    WebSocketClientSource,
    WebSocketServerSource,
    WebSocketSink,
)


class TestPlugins(PluginContract):
    distribution = "pump-http"
    declared = {
        ("source", "http.client"): HTTPClientSource,
        ("source", "http.server"): HTTPServerSource,
        ("sink", "http"): HTTPSink,
        ("source", "websocket.client"): WebSocketClientSource,
        ("source", "websocket.server"): WebSocketServerSource,
        ("sink", "websocket"): WebSocketSink,
    }
    # two families of names: http and http.*, websocket and websocket.* (checked below)
    namespace = None

    def test_every_name_is_http_or_websocket(self) -> None:
        for _, name in self.declared:
            assert name.split(".")[0] in ("http", "websocket"), name
