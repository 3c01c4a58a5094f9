"""`python -m pump_elastic.testing [--host H] [--port P]`: serve the test server until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from pump_elastic.testing.server import ElasticsearchTestServer


async def _serve(host: str, port: int) -> None:
    server = ElasticsearchTestServer(host, port)
    url = await server.start()
    print(f"listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve; the URL is printed on the first line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m pump_elastic.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
