#!/usr/bin/env python3
"""BSPump's Weather example on Pump: the current weather of several cities, polled together.

    python weather.py                  # against a local stand-in of OpenWeatherMap
    python weather.py --count 6        # stop after six reports
    OPENWEATHER_API_KEY=... python weather.py --url https://api.openweathermap.org/data/2.5/weather

BSPump's tutorial wrote a TriggerSource looping over the cities; in Pump a pipeline takes
several sources, so each city is an HTTPClientSource of its own on one shared trigger, with
the API key sent as the `appid` query parameter (never shown in logs or contexts).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pump
import pump.common
import pump.trigger
import pump_http
from pump_http.testing import ThreadedServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from weather_server import PATH, make_app

CITIES = ["London", "New York", "Berlin"]
LOCAL_KEY = "local-demo-key"


def report(event):
    """One flat record of a city's weather (`function: "weather:report"` in weather.yaml)."""
    main = event["main"]
    return {
        "city": event["name"],
        "country": event["sys"]["country"],
        "temp": main["temp"],
        "feels_like": main["feels_like"],
        "pressure": main["pressure"],
        "humidity": main["humidity"],
        "sky": event["weather"][0]["description"],
    }


class ReportProcessor(pump.Processor):
    def process(self, context, event):
        return report(event)


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


class WeatherPipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id, url, api_key, interval=5.0, count=0):
        super().__init__(app, pipeline_id)
        trigger = pump.trigger.PeriodicTrigger(app, interval)
        sources = [
            pump_http.HTTPClientSource(
                app,
                self,
                id=f"weather {city}",
                config={
                    "url": url,
                    "params": {"q": city, "units": "metric"},
                    "auth": "query",
                    "auth_name": "appid",
                    "token": api_key,
                    "response": "json",
                },
            ).on(trigger)
            for city in CITIES
        ]
        self.build(
            sources,
            ReportProcessor(app, self),
            StopAfter(app, self, count),
            pump.common.PPrintSink(app, self),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the API (default: a local stand-in, started here)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--count", type=int, default=0, help="stop after this many reports")
    args = parser.parse_args(argv)
    server = None
    url, api_key = args.url, os.environ.get("OPENWEATHER_API_KEY", "")
    if url is None:
        server = ThreadedServer(make_app(LOCAL_KEY))
        url, api_key = server.start() + PATH, LOCAL_KEY
    try:
        app = pump.Application(args=[])
        app.add_pipeline(WeatherPipeline(app, "weather", url, api_key, args.interval, args.count))
        return app.run()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
