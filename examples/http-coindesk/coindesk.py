#!/usr/bin/env python3
"""BSPump's Coindesk example on Pump: poll the Bitcoin price, parse it, add JPY, print it.

    python coindesk.py                 # against a local stand-in of the API, until Ctrl-C
    python coindesk.py --count 5       # stop after five prices
    python coindesk.py --url URL       # against another server

Polls every `--interval` seconds; the source sends the last ETag back, so a price that did not
change is answered 304 and printed once only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pump
import pump.common
import pump.trigger
import pump_http
from pump_http.testing import ThreadedServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from price_server import PATH, Market, make_app

JPY_PER_USD = 113.70  # BSPump's example rate, outdated on purpose


class EnrichProcessor(pump.Processor):
    """Adds the price in Japanese yen, converted from the USD one (BSPump's EnrichProcessor)."""

    def process(self, context, event):
        jpy = event["bpi"]["USD"]["rate_float"] * JPY_PER_USD
        event["bpi"]["JPY"] = {
            "code": "JPY",
            "symbol": "&yen;",
            "rate": f"{jpy:,.4f}",
            "description": "Japanese yen",
            "rate_float": jpy,
        }
        return event


class StopAfter(pump.Processor):
    """Asks the application to stop once `count` events went through (0: never)."""

    def __init__(self, app, pipeline, count, id=None, config=None):
        super().__init__(app, pipeline, id=id, config=config)
        self.count = count
        self.seen = 0

    def process(self, context, event):
        self.seen += 1
        if self.count and self.seen >= self.count:
            self.App.request_stop()
        return event


class CoindeskPipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id, url, interval=5.0, count=0):
        super().__init__(app, pipeline_id)
        self.build(
            pump_http.HTTPClientSource(app, self, config={"url": url}).on(
                pump.trigger.PeriodicTrigger(app, interval)
            ),
            pump.common.StdJsonToDictParser(app, self),
            EnrichProcessor(app, self),
            StopAfter(app, self, count),
            pump.common.PPrintSink(app, self),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the API (default: a local stand-in, started here)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--count", type=int, default=0, help="stop after this many prices")
    args = parser.parse_args(argv)
    server = None
    url = args.url
    if url is None:  # the price moves every second; polls in between are answered 304
        server = ThreadedServer(make_app(Market(tick=1.0)))
        url = server.start() + PATH
    try:
        app = pump.Application(args=[])
        app.add_pipeline(CoindeskPipeline(app, "coindesk", url, args.interval, args.count))
        return app.run()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
