"""Quickstart: 100,000 web-access events → parse → enrich → filter → aggregate → print.

Runs on embedded defaults, no services. The events are generated with a fixed seed, so every
run prints the same numbers. Each printed line is one aggregate of 5,000 requests; the
summary at the end comes from the application's metrics.

    python3 dev.py quickstart          (or: .venv/bin/python examples/quickstart/run.py)
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Iterator

import orjson

import pump
from pump.common import (
    Aggregator,
    FilterProcessor,
    FunctionProcessor,
    IteratorSource,
    JsonParser,
    PrintSink,
)

COUNTRIES = {"10.1": "CZ", "10.2": "DE", "10.3": "US", "10.4": "JP"}
PATHS = ["/", "/login", "/cart", "/api/items", "/healthz", "/search"]


def access_log(n: int, seed: int = 42) -> Iterator[bytes]:
    """`n` JSON access-log lines, the same ones on every run."""
    rnd = random.Random(seed)
    start = 1_700_000_000
    for i in range(n):
        yield orjson.dumps(
            {
                "ts": start + i // 50,
                "ip": f"10.{rnd.randint(1, 4)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                "path": rnd.choice(PATHS),
                "status": rnd.choices([200, 301, 404, 500], [90, 4, 5, 1])[0],
                "bytes": rnd.randint(200, 20_000),
            }
        )


class GeoEnrich(pump.Processor):
    """Adds the country of the client from the `geo` lookup."""

    def __init__(self, app: pump.Application, pipeline: pump.Pipeline) -> None:
        super().__init__(app, pipeline, "geo-enrich")
        self.Lookup = app.locate_lookup("geo")

    def process(self, context, event):
        prefix = event["ip"].rsplit(".", 2)[0]
        event["country"] = self.Lookup.get(prefix, "??")
        return event


def summarize(events: list[dict]) -> str:
    """One line for an aggregate of requests."""
    countries = Counter(e["country"] for e in events)
    errors = sum(e["status"] >= 500 for e in events)
    size = sum(e["bytes"] for e in events)
    top = ", ".join(f"{c} {n}" for c, n in countries.most_common())
    return f"{len(events):>6} requests  {size / 1e6:7.1f} MB  5xx {errors:>3}  by country: {top}"


class AccessLogPipeline(pump.Pipeline):
    def __init__(self, app: pump.Application, pipeline_id: str, events: int) -> None:
        super().__init__(app, pipeline_id)
        self.build(
            IteratorSource(app, self, lambda: access_log(events)),
            JsonParser(app, self),
            GeoEnrich(app, self),
            FilterProcessor(app, self, lambda e: e["path"] != "/healthz", id="drop-healthz"),
            Aggregator(app, self, config={"completion_size": 5_000, "completion_timeout": 1}),
            FunctionProcessor(app, self, summarize),
            PrintSink(app, self),
        )


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    app = pump.Application()
    app.add_lookup(pump.DictionaryLookup(app, "geo", provider=dict(COUNTRIES)))
    pipeline = app.add_pipeline(AccessLogPipeline(app, "access-log", events))
    started = time.perf_counter()
    code = app.run()
    elapsed = time.perf_counter() - started
    m = pipeline.metrics()
    print(
        f"\nread {m['events_in']:,} events, dropped {m['dropped']:,} (health checks), "
        f"aggregated {m['aggregated']:,} into {m['events_out']:,} lines, errors {m['errors']}, "
        f"{m['events_in'] / elapsed:,.0f} events/s in {elapsed:.2f} s — exit code {code}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
