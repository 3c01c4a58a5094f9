"""Fixtures of pump-http's tests: local aiohttp peers on free ports, started by the tests.

HTTP and WebSocket need no external server: each test starts the aiohttp server or client
it talks to on 127.0.0.1, on a port the operating system picks, and stops it afterwards.
"""

from __future__ import annotations
