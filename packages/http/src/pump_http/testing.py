"""Helpers for tests of HTTP pipelines: a local aiohttp server on a free port."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve an aiohttp application on `port` (0: a free one) of `host`; yields its base URL.

    async with serve(app) as url:
        ...  # e.g. http://127.0.0.1:40123
    """
    sock = socket.create_server((host, port))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class ThreadedServer:
    """An aiohttp application served from a thread and event loop of its own.

    For code that is not async (an example's `main`), or tests whose event loops come and go
    while the server stays:

        with ThreadedServer(app) as url:
            ...
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> str:
        """Start serving; returns the base URL."""
        started: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        self.url = started.result(timeout=10)
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def _run(self, started: concurrent.futures.Future[str]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with serve(self.app, self.host, self.port) as url:
                    started.set_result(url)
                    await self._stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        asyncio.run(main())

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
