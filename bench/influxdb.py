"""500,000 points (3 tags, 4 fields) into VictoriaMetrics: InfluxDBSink against influxdb-client.

    python bench/influxdb.py [--url URL] [--points N] [--batch B] [--rounds R] [--only NAME]
                             [--writes W] [--in-flight E]

Without --url it starts Debian's `victoria-metrics` (installing it when it is missing and we
are root) on a free port with a temporary data folder: a real server of InfluxDB line
protocol on `/api/v2/write`. Two contestants, interleaved, best of R rounds, each writing a
measurement of its own per round (new series each time, the same work for both):

- `client_loop`: the reference — a hand-written loop that builds the same line protocol with
  one f-string per point (no escaping: the data needs none) and posts B lines at a time with
  influxdb-client's async write API (`InfluxDBClientAsync.write_api().write`), one after the
  other;
- `pump`: IteratorSource (batches of B) → InfluxDBSink (tags and fields from the mapping
  settings, types and escaping checked per value, `batch_max_points` B, W requests in flight,
  default 2; the pipeline's `max_in_flight` E, default 10,000); its clock stops once the
  source has handed over every event and the pipeline has drained (awaited, not polled).

Both start from the same in-memory dicts and write identical lines. Each run is checked: the
server holds N samples of the measurement's `usage` field. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

# bench/http.py would stand in for the standard library's `http` (which influxdb-client's
# urllib3 imports): this folder goes to the end of the path
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]

from _common import Clock, add_arguments, interleave, report  # noqa: E402
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync  # noqa: E402

import pump  # noqa: E402
from pump.common import IteratorSource  # noqa: E402
from pump_influxdb import InfluxDBConnection, InfluxDBSink  # noqa: E402
from pump_influxdb.testing import VictoriaMetricsServer, ensure_installed, http  # noqa: E402

BUCKET, ORG = "bench", "pump"


def make_events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = (int(time.time()) - 86_400) * 1_000_000_000
    hosts = [f"host-{i:03d}" for i in range(50)]
    regions = ["eu-west", "us-east", "ap-south"]
    return [
        {
            "host": hosts[i % 50],
            "region": regions[i % 3],
            "dc": f"dc{i % 10}",
            "usage": round(rng.random() * 100, 3),
            "count": i,
            "temp": 20.5 + i % 7,
            "status": "ok" if i % 5 else "degraded",
            "time": start + i * 1_000_000,  # a millisecond apart: what VictoriaMetrics keeps
        }
        for i in range(n)
    ]


async def client_loop(
    url: str, measurement: str, events: list[dict[str, Any]], batch: int
) -> Clock:
    """The hand-written loop: f-string lines, B per request, influxdb-client's write API."""
    async with InfluxDBClientAsync(url=url, token="bench", org=ORG, timeout=60_000) as client:
        write_api = client.write_api()
        with Clock() as clock:
            for first in range(0, len(events), batch):
                lines = [
                    f"{measurement},dc={e['dc']},host={e['host']},region={e['region']} "
                    f"usage={e['usage']!r},count={e['count']}i,temp={e['temp']!r},"
                    f'status="{e["status"]}" {e["time"]}'
                    for e in events[first : first + batch]
                ]
                await write_api.write(BUCKET, ORG, "\n".join(lines).encode(), "ns")
    return clock


#: InfluxDBSink's requests in flight, and the pipeline's bound on events in flight.
CONCURRENCY = {"writes": 2, "in_flight": 10_000}


async def pump_pipeline(
    url: str, measurement: str, events: list[dict[str, Any]], batch: int
) -> Clock:
    """IteratorSource → InfluxDBSink."""
    app = pump.Application(exit_when_finished=False)
    connection = {"url": url, "api": "v2", "org": ORG, "bucket": BUCKET, "token": "bench"}
    app.add_connection(InfluxDBConnection(app, "influx", config=connection))
    pipeline = pump.Pipeline(app, "bench", config={"max_in_flight": CONCURRENCY["in_flight"]})
    sink = InfluxDBSink(
        app,
        pipeline,
        "influx",
        config={
            "measurement": measurement,
            "tags": ["host", "region", "dc"],
            "fields": ["usage", "count", "temp", "status"],
            "time_unit": "ns",
            "batch_max_points": batch,
            "max_concurrent_writes": CONCURRENCY["writes"],
        },
    )
    source = IteratorSource(app, pipeline, events, config={"batch_size": batch})
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        with Clock() as clock:
            assert source.task is not None
            await source.task  # every event handed over
            await pipeline.drain()  # and written
        if pipeline.is_error() or sink.points_written != len(events):
            raise RuntimeError(f"the pipeline failed: {pipeline.errors}")
    finally:
        await app.stop(timeout=30.0)
    return clock


def stored(server: VictoriaMetricsServer, measurement: str, events: list[dict[str, Any]]) -> int:
    """Samples of the measurement's `usage` field the server holds (waiting up to 60 s for
    the server to make all of them searchable: it does so in the background)."""
    at = events[-1]["time"] // 1_000_000_000 + 1
    query = urllib.parse.urlencode(
        {
            "query": f'sum(count_over_time({{__name__="{measurement}_usage"}}[2d]))',
            "time": at,
            "nocache": 1,
        }
    )
    deadline = time.monotonic() + 60
    held = 0
    while held < len(events) and time.monotonic() < deadline:
        server.flush()
        status, body = http("GET", f"{server.url}/api/v1/query?{query}", timeout=60)
        result = json.loads(body)["data"]["result"] if status == 200 else []
        held = int(float(result[0]["value"][1])) if result else 0
        if held < len(events):
            time.sleep(0.5)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="", help="a server of line protocol (default: start one)")
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=5_000)
    add_arguments(parser, ["client_loop", "pump"], rounds=5)
    parser.add_argument("--writes", type=int, default=2, help="pump's requests in flight")
    parser.add_argument("--in-flight", type=int, default=10_000, help="pump's events in flight")
    args = parser.parse_args()
    CONCURRENCY.update(writes=args.writes, in_flight=args.in_flight)
    events = make_events(args.points)
    server = None
    url = args.url
    if not url:
        binary = ensure_installed("victoria-metrics")
        if binary is None:
            raise SystemExit("victoria-metrics is not installed (apt-get install victoria-metrics)")
        server = VictoriaMetricsServer(
            Path(tempfile.mkdtemp(prefix="pump-bench-vm-")), binary=binary
        )
        server.start()
        url = server.url
    runs = 0

    def contestant(run: Any) -> Any:
        def go() -> tuple[int, Clock]:
            nonlocal runs
            runs += 1
            measurement = f"bench{runs}_{run.__name__}"
            clock = asyncio.run(run(url, measurement, events, args.batch))
            if server is not None:
                held = stored(server, measurement, events)
                if held != len(events):
                    raise SystemExit(f"{run.__name__}: the server holds {held} of {len(events)}")
            return len(events), clock

        return go

    contestants = {"client_loop": contestant(client_loop), "pump": contestant(pump_pipeline)}
    if args.only:
        contestants = {args.only: contestants[args.only]}
    try:
        wall, cpu = interleave(contestants, args.rounds)
    finally:
        if server is not None:
            server.stop()
    report(
        "influxdb",
        wall,
        reference="client_loop",
        subject="pump",
        cpu=cpu,
        points=args.points,
        batch=args.batch,
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
