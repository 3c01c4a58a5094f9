"""Helpers of the BSPump example tests: a local server for the HTTP polling examples, running
an app until a condition holds, reading what PPrintSink printed.

`JsonServer` is the server the examples' `HTTPClientSource` (pump-http's, in place of
`bspump.http`'s) polls, on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

import pump


class JsonServer:
    """Answers every GET with `respond(path)` as JSON (a (status, document) pair)."""

    def __init__(self, respond: Callable[[str], tuple[int, Any]]) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                status, document = respond(self.path)
                body = orjson.dumps(document)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JsonServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


async def run_until(app: pump.Application, done: Callable[[], bool], timeout: float = 10.0) -> int:
    """Run `app.main()` until `done()` holds, then stop it gracefully; returns the exit code."""

    async def stop_when_done() -> None:
        while not done():
            await asyncio.sleep(0.01)
        app.request_stop()

    async with asyncio.timeout(timeout):
        code, _ = await asyncio.gather(app.main(), stop_when_done())
    return code


def pprinted(text: str) -> list[Any]:
    """The objects PPrintSink printed (each starts on a new line with `{` or `[`)."""
    chunks = re.split(r"\n(?=[\[{])", text.strip())
    return [ast.literal_eval(chunk) for chunk in chunks if chunk]
