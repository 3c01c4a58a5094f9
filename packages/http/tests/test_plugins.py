"""Every entry point of pump-http loads its class, with a described module-level config model."""

from __future__ import annotations

from pump.testing import PluginContract
from pump_http import HTTPClientSource, HTTPServerSource, HTTPSink


class TestPlugins(PluginContract):
    distribution = "pump-http"
    declared = {
        ("source", "http.client"): HTTPClientSource,
        ("source", "http.server"): HTTPServerSource,
        ("sink", "http"): HTTPSink,
    }
