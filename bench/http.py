"""Webhook receiver under load: HTTPServerSource → NullSink vs a hand-written aiohttp handler.

    python bench/http.py [--seconds S] [--rounds R] [--connections C] [--client wrk|aiohttp]

Both contestants are servers in a process of their own, loaded from another process over
keep-alive connections (64 by default) with POSTs of NDJSON bodies of 100 events each:

- `aiohttp_handler`: a minimal aiohttp handler that reads the body, parses every line with
  orjson and answers 200 with the count — what a hand-written receiver does, without any
  delivery tracking.
- `pump`: `HTTPServerSource` (format auto → NDJSON by Content-Type) → `NullSink` in a
  `pump.Application`; each request is answered 200 only once its 100 events are done.

The load comes from `wrk` (Debian package `wrk`) when it is installed, else from a client
process of aiohttp sessions (slower; then the client may be what limits both). Each round
starts both servers and then loads them in turn, one second at a time (ABBA order), `--seconds`
slices each: on this shared machine other work comes and goes over seconds, and a contestant
loaded for 5 s straight could get a quiet or a busy stretch the other did not (whole 5 s runs
gave per-round ratios of 0.78..1.12). Both servers of a round run with the same random
PYTHONHASHSEED, a new one each round: string hashes decide how the events' keys collide in
their dicts, which moved a process's instructions per request by ~1% under callgrind. The best
round of each counts, 8 rounds by default: a server's events per CPU second still differed by
up to 25% from one process to the next (same seed, same slices of time), so each contestant is
given several processes and its best one is compared. Requests/s, events/s and
the latency percentiles (p50, p99: the median of the slices') come from the load generator;
every answer must be a 200, and the server's own count of events must match. The server's CPU
seconds during its slices (from /proc) give events per CPU second, the steadier figure on a
shared machine. The last line is a JSON summary: `pump_eps` and `aiohttp_handler_eps`
(events/s), `ratio` (events/s; requests/s is the same ratio), `cpu_ratio`, both p99 latencies
and the 1-minute load average before and after (`load`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the standard library's `http` package, which aiohttp imports: keep
# its folder behind the standard library on the path, so `import http` finds the real one.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]

from _common import report  # noqa: E402

EVENTS_PER_BODY = 100
CONTESTANTS = ("aiohttp_handler", "pump")


def ndjson_body() -> bytes:
    """100 events of about 90 bytes each, one JSON object per line."""
    lines = [
        json.dumps(
            {
                "id": i,
                "user": f"user-{i % 17}",
                "action": "click" if i % 3 else "view",
                "ts": 1700000000.0 + i / 10,
                "value": i * 0.5,
            },
            separators=(",", ":"),
        )
        for i in range(EVENTS_PER_BODY)
    ]
    return ("\n".join(lines) + "\n").encode()


# -- the servers (each runs in a process of its own: `--serve NAME --port P`) ----------------


def serve_aiohttp_handler(port: int) -> int:
    import orjson
    from aiohttp import web

    loads, dumps = orjson.loads, orjson.dumps
    count = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal count
        body = await request.read()
        events = [loads(line) for line in body.splitlines() if line]
        count += len(events)
        return web.Response(body=dumps({"events": len(events)}), content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/", handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
    return count


def serve_pump(port: int) -> int:
    import pump
    from pump.common import CountingSink
    from pump_http import HTTPServerSource

    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "webhook")
    sink = CountingSink(app, pipeline, "null")
    pipeline.build(HTTPServerSource(app, pipeline, "webhook", config={"port": port}), sink)
    app.add_pipeline(pipeline)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: print("ready", flush=True))
        return await app.main()  # SIGTERM stops it gracefully

    asyncio.run(main())
    return int(sink.count)


SERVERS = {"aiohttp_handler": serve_aiohttp_handler, "pump": serve_pump}


# -- the load --------------------------------------------------------------------------------


class Load:
    """What one run of the load generator measured (and the server's CPU seconds meanwhile)."""

    def __init__(self, requests: int, seconds: float, p50_ms: float, p99_ms: float, bad: int):
        self.requests = requests
        self.seconds = seconds
        self.p50_ms = p50_ms
        self.p99_ms = p99_ms
        self.bad = bad
        self.server_cpu = 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
wrk.body = io.open("{body}", "rb"):read("*a")
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load_wrk(url: str, body: Path, connections: int, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=body))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "1",  # one thread saturates a Python server and leaves it the other core
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    duration = _ms(re.search(r"requests in ([\d.]+\w+)", out).group(1)) / 1000  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        print(f"http: wrk: {errors.group(0)}")
    return Load(requests, duration, p50, p99, int(bad.group(1)) if bad else 0)


def client_aiohttp(url: str, body_path: str, connections: int, seconds: float) -> None:
    """The fallback load generator (run as `--client-process`): prints its measurements."""
    import aiohttp

    body = Path(body_path).read_bytes()
    latencies: list[float] = []
    bad = 0

    async def worker(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal bad
        headers = {"Content-Type": "application/x-ndjson"}
        while time.perf_counter() < until:
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    bad += 1
            latencies.append(time.perf_counter() - start)

    async def main() -> float:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.perf_counter()
            until = start + seconds
            await asyncio.gather(*(worker(session, until) for _ in range(connections)))
            return time.perf_counter() - start

    duration = asyncio.run(main())
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(json.dumps([len(latencies), duration, p(0.5), p(0.99), bad]))


def load_aiohttp(url: str, body: Path, connections: int, seconds: float) -> Load:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client-process",
            url,
            str(body),
            str(connections),
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests, duration, p50, p99, bad = json.loads(out.strip().splitlines()[-1])
    return Load(requests, duration, p50, p99, bad)


# -- one round -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One contestant's server process, started at once; `stop()` ends it."""

    def __init__(self, name: str, hash_seed: int) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", name, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise SystemExit(f"http: the {name} server did not start: {line!r}")

    def stop(self) -> int:
        """End the server; the events it counted."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(json.loads(out.strip().splitlines()[-1])["events"])


def run_round(
    client: str, body: Path, connections: int, seconds: float, hash_seed: int, reverse: bool
) -> dict[str, Load]:
    """Both servers at once; the load alternates between them in one-second slices (ABBA)."""
    generate = load_wrk if client == "wrk" else load_aiohttp
    names = CONTESTANTS[::-1] if reverse else CONTESTANTS
    servers: dict[str, Server] = {}
    slices: dict[str, list[Load]] = {name: [] for name in names}
    try:
        for name in names:
            servers[name] = Server(name, hash_seed)
        for server in servers.values():
            generate(server.url, body, connections, 1)  # a short warm-up, not measured
        for i in range(max(1, round(seconds))):
            for name in names if i % 2 == 0 else names[::-1]:
                pid = servers[name].process.pid
                cpu = cpu_seconds(pid)
                load = generate(servers[name].url, body, connections, 1)
                load.server_cpu = cpu_seconds(pid) - cpu
                slices[name].append(load)
    finally:
        handled = {name: server.stop() for name, server in servers.items()}
    totals = {}
    for name, loads in slices.items():
        total = Load(
            sum(x.requests for x in loads),
            sum(x.seconds for x in loads),
            statistics.median(x.p50_ms for x in loads),
            statistics.median(x.p99_ms for x in loads),
            sum(x.bad for x in loads),
        )
        total.server_cpu = sum(x.server_cpu for x in loads)
        if total.bad:
            raise SystemExit(f"http: {name}: {total.bad} answers were not 200")
        if handled[name] < total.requests * EVENTS_PER_BODY:
            raise SystemExit(
                f"http: {name} handled {handled[name]} events, the client had "
                f"{total.requests} requests of {EVENTS_PER_BODY} answered"
            )
        totals[name] = total
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="Seconds of load per contestant and round"
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp"
    )
    parser.add_argument("--serve", choices=CONTESTANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-process", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps({"events": SERVERS[args.serve](args.port)}))
        return
    if args.client_process:
        url, body_path, connections, seconds = args.client_process
        client_aiohttp(url, body_path, int(connections), float(seconds))
        return

    with tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False) as f:
        f.write(ndjson_body())
    body = Path(f.name)
    rates: dict[str, list[float]] = {name: [] for name in CONTESTANTS}
    cpu_rates: dict[str, list[float]] = {name: [] for name in CONTESTANTS}
    p99: dict[str, list[float]] = {name: [] for name in CONTESTANTS}
    load_before = os.getloadavg()[0]
    try:
        for round_ in range(args.rounds):
            hash_seed = random.randrange(1, 2**32)  # the same for both servers of the round
            loads = run_round(
                args.client, body, args.connections, args.seconds, hash_seed, round_ % 2 == 1
            )
            for name, load in loads.items():
                rps = load.requests / load.seconds
                rates[name].append(rps * EVENTS_PER_BODY)
                p99[name].append(load.p99_ms)
                events = load.requests * EVENTS_PER_BODY
                cpu_rates[name].append(events / load.server_cpu if load.server_cpu else 0.0)
                print(
                    f"http: round {round_ + 1} {name:<16} {rps:>9,.0f} requests/s "
                    f"{rps * EVENTS_PER_BODY:>11,.0f} events/s  p50 {load.p50_ms:.2f} ms  "
                    f"p99 {load.p99_ms:.2f} ms  server CPU {load.server_cpu:.2f} s "
                    f"({cpu_rates[name][-1]:,.0f} events per CPU second)",
                    flush=True,
                )
    finally:
        body.unlink()
    best = {name: rates[name].index(max(rates[name])) for name in CONTESTANTS}
    report(
        "http",
        rates,
        reference="aiohttp_handler",
        subject="pump",
        cpu=cpu_rates if all(all(r) for r in cpu_rates.values()) else None,
        pump_p99_ms=round(p99["pump"][best["pump"]], 2),
        aiohttp_handler_p99_ms=round(p99["aiohttp_handler"][best["aiohttp_handler"]], 2),
        pump_rps=round(max(rates["pump"]) / EVENTS_PER_BODY),
        aiohttp_handler_rps=round(max(rates["aiohttp_handler"]) / EVENTS_PER_BODY),
        connections=args.connections,
        events_per_request=EVENTS_PER_BODY,
        client=args.client,
        seconds=args.seconds,
        rounds=args.rounds,
        load=[round(load_before, 2), round(os.getloadavg()[0], 2)],
    )


if __name__ == "__main__":
    main()
