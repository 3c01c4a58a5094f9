"""Helpers for tests of HTTP pipelines: a local aiohttp server on a free port."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an aiohttp application on a free port of `host`; yields its base URL.

    async with serve(app) as url:
        ...  # e.g. http://127.0.0.1:40123
    """
    sock = socket.create_server((host, 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
