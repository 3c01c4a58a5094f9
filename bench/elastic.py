"""200,000 JSON documents of ~300 B into Elasticsearch: pump's sink against the client's helper.

    python bench/elastic.py [--url URL] [--docs N] [--rounds R] [--chunk C]

Without --url it starts `python -m pump_elastic.testing` (the protocol-level test server) in a
process of its own, so both contestants pay the same server cost and the ratio measures the
client side. Two contestants, interleaved, best of R rounds, each writing into a fresh index:
- `helpers_streaming_bulk`: the reference — a hand-written loop over the official client's
  `helpers.async_streaming_bulk` at chunk size C, counting the items reported ok (the client
  made with the settings ElasticsearchConnection uses: orjson for the answers);
- `pump`: IteratorSource → ElasticsearchSink (bulk_max_actions C; per-item acknowledgement is
  always on: a batch is done only when every one of its items succeeded).
Both start from the same in-memory dicts (each with an `_id`). The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch, helpers
from elasticsearch.serializer import OrjsonSerializer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

import pump
from pump.common import IteratorSource
from pump_elastic import ElasticsearchConnection, ElasticsearchSink


def make_docs(n: int) -> list[dict[str, Any]]:
    """n documents of about 300 bytes as JSON, each with its id."""
    return [
        {
            "_id": f"doc-{i:08d}",
            "@timestamp": f"2026-11-27T10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}."
            f"{i % 1000:03d}Z",
            "host": f"web-{i % 16:02d}.example.com",
            "user": f"user-{i % 1000:04d}",
            "method": "GET" if i % 5 else "POST",
            "path": f"/api/v1/items/{i % 5000}/details",
            "status": 200 if i % 23 else 503,
            "bytes": (i * 7919) % 65536,
            "duration_ms": round((i % 997) * 0.731, 3),
            "agent": "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
            "tags": ["alpha", "beta", "gamma"],
        }
        for i in range(n)
    ]


def reset(url: str) -> None:
    """Forget every stored document (test server only), so memory stays flat across rounds."""
    request = urllib.request.Request(f"{url}/_pump_testing/reset", data=b"{}", method="POST")
    with contextlib.suppress(OSError):  # a real cluster: each round writes its own index
        urllib.request.urlopen(request, timeout=10).read()


async def count(url: str, index: str) -> int:
    client = AsyncElasticsearch(url)
    try:
        await client.indices.refresh(index=index)
        return int((await client.count(index=index))["count"])
    finally:
        await client.close()


async def run_reference(url: str, docs: list[dict[str, Any]], chunk: int) -> tuple[int, float]:
    index = f"bench-ref-{uuid.uuid4().hex[:8]}"
    # the same client settings as ElasticsearchConnection's (orjson for the answers)
    client = AsyncElasticsearch(url, request_timeout=60, serializer=OrjsonSerializer())
    try:
        await client.info()  # connect first, as pump's connection check does
        start = time.perf_counter()
        ok = 0
        actions = ({"_index": index, **doc} for doc in docs)
        async for success, _item in helpers.async_streaming_bulk(
            client, actions, chunk_size=chunk, raise_on_error=False
        ):
            ok += success
        elapsed = time.perf_counter() - start
    finally:
        await client.close()
    assert ok == len(docs), f"reference: {ok} of {len(docs)} ok"
    return ok, elapsed


async def run_pump(url: str, docs: list[dict[str, Any]], chunk: int) -> tuple[int, float]:
    index = f"bench-pump-{uuid.uuid4().hex[:8]}"
    app = pump.Application()
    connection = ElasticsearchConnection(app, "es", config={"url": url, "request_timeout": 60})
    app.add_connection(connection)
    await connection.check()  # connect first, outside the timing
    pipeline = pump.Pipeline(app, "bench", config={"on_error": "stop"})
    sink = ElasticsearchSink(
        app, pipeline, "es", config={"index": index, "bulk_max_actions": chunk}
    )
    pipeline.build(IteratorSource(app, pipeline, lambda: iter(docs)), sink)
    app.add_pipeline(pipeline)
    start = time.perf_counter()
    code = await app.main()
    elapsed = time.perf_counter() - start
    written = pipeline.metrics()["events_out"]
    assert code == 0 and written == len(docs), (
        f"pump: exit {code}, {written} of {len(docs)} written"
    )
    return written, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="", help="a cluster (default: start the test server)")
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=1000)
    args = parser.parse_args()
    server = None
    url = args.url
    if not url:
        server = subprocess.Popen(
            [sys.executable, "-m", "pump_elastic.testing", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
    docs = make_docs(args.docs)
    size = sum(len(str(d)) for d in docs[:1000]) / 1000
    print(f"elastic: {args.docs:,} documents of ~{size:.0f} B, chunk {args.chunk}, server {url}")
    rates: dict[str, list[float]] = {"helpers_streaming_bulk": [], "pump": []}
    try:
        for round_ in range(args.rounds):
            for name, run in (("helpers_streaming_bulk", run_reference), ("pump", run_pump)):
                reset(url)
                n, elapsed = asyncio.run(run(url, docs, args.chunk))
                rates[name].append(n / elapsed)
                print(f"elastic: round {round_ + 1} {name:<24} {n / elapsed:>10,.0f} docs/s")
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    best = {name: max(values) for name, values in rates.items()}
    spread = {f"{name}_spread": [round(min(v)), round(max(v))] for name, v in rates.items()}
    report(
        "elastic",
        best,
        "helpers_streaming_bulk",
        "pump",
        docs=args.docs,
        chunk=args.chunk,
        rounds=args.rounds,
        **spread,
    )


if __name__ == "__main__":
    main()
