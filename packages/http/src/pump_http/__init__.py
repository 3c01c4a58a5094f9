"""pump-http: HTTP and WebSocket sources and sinks on aiohttp, and Pump's admin API."""

__version__ = "0.1.0"

__all__: list[str] = []
