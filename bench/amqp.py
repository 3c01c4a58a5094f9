"""RabbitMQ: persistent JSON messages, queue → parse → add a field → serialize → exchange.

    python bench/amqp.py [--url URL] [--messages N] [--rounds R]

Both contestants read N persistent JSON messages from a queue and publish each result,
persistent, to an exchange bound to an output queue, with publisher confirms, acknowledging an
input message only after its output was confirmed:

- `aio_pika_loop`: a hand-written aio-pika loop — consume with manual acks and a prefetch,
  take what arrived (up to a batch), publish the batch, gather its confirms, then acknowledge
  the batch with one `ack(multiple=True)`; several batches are in flight at once (pipelined),
  acknowledged in order.
- `pump`: AMQPSource → JsonParser → AddField → JsonSerializer → AMQPSink.

The broker is `$PUMP_AMQP_URL` or amqp://guest:guest@127.0.0.1:5672/. The input queue is
filled before each timed run (not timed). The last line is a JSON summary; `ratio` is
pump / aio_pika_loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import aio_pika
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

import pump
from pump.common import JsonParser, JsonSerializer
from pump_amqp import AMQPConnection, AMQPSink, AMQPSource

BATCH = 256
PREFETCH = 1024
IN_FLIGHT_BATCHES = PREFETCH // BATCH


class AddField(pump.Processor):
    def process(self, context: dict[str, Any], event: Any) -> Any:
        event["processed"] = True
        return event


class Names:
    """The queues and exchange of one run, unique per run."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.input = f"bench-amqp-in-{tag}"
        self.output = f"bench-amqp-out-{tag}"
        self.exchange = f"bench-amqp-x-{tag}"


async def prepare(url: str, names: Names, n: int) -> None:
    """Declare the queues and exchange, and fill the input queue with n persistent messages."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.declare_queue(names.input, durable=True)
        output = await channel.declare_queue(names.output, durable=True)
        exchange = await channel.declare_exchange(names.exchange, "direct", durable=True)
        await output.bind(exchange, "out")
        pending = []
        for i in range(n):
            body = orjson.dumps(
                {"seq": i, "user": f"user-{i % 1000}", "amount": i * 0.5, "tags": ["a", "b"]}
            )
            pending.append(
                channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=names.input,
                )
            )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await connection.close()


async def check_and_clean(url: str, names: Names, n: int) -> None:
    """Assert every message made it (n in the output, none left in the input), then delete all."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        output = await channel.declare_queue(names.output, passive=True)
        left = await channel.declare_queue(names.input, passive=True)
        produced = output.declaration_result.message_count
        remaining = left.declaration_result.message_count
        assert produced == n, f"{produced} messages in the output, expected {n}"
        assert remaining == 0, f"{remaining} messages left in the input"
        await channel.queue_delete(names.input)
        await channel.queue_delete(names.output)
        await channel.exchange_delete(names.exchange)
    finally:
        await connection.close()


async def run_aio_pika_loop(url: str, names: Names, n: int) -> float:
    """The hand-written reference; returns seconds taken."""
    connection = await aio_pika.connect_robust(url)
    consume_channel = await connection.channel(publisher_confirms=False)
    await consume_channel.set_qos(prefetch_count=PREFETCH)
    publish_channel = await connection.channel()  # publisher confirms on
    exchange = await publish_channel.get_exchange(names.exchange)
    queue = await consume_channel.get_queue(names.input)
    arrived: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
    loads, dumps, persistent = orjson.loads, orjson.dumps, aio_pika.DeliveryMode.PERSISTENT
    in_flight: deque[tuple[aio_pika.abc.AbstractIncomingMessage, asyncio.Future[Any]]] = deque()
    done = 0
    start = time.perf_counter()
    await queue.consume(arrived.put)
    while done < n:
        batch = [await arrived.get()]
        while len(batch) < BATCH and not arrived.empty():
            batch.append(arrived.get_nowait())
        publishes = []
        for message in batch:
            event = loads(message.body)
            event["processed"] = True
            publishes.append(
                exchange.publish(
                    aio_pika.Message(dumps(event), delivery_mode=persistent), routing_key="out"
                )
            )
        in_flight.append((batch[-1], asyncio.gather(*publishes)))
        done += len(batch)
        # acknowledge, in order, every batch whose confirms are all in; wait when the window is full
        while in_flight and (
            in_flight[0][1].done() or len(in_flight) >= IN_FLIGHT_BATCHES or done >= n
        ):
            last, confirms = in_flight.popleft()
            await confirms
            await last.ack(multiple=True)
    elapsed = time.perf_counter() - start
    await connection.close()
    return elapsed


async def run_pump(url: str, names: Names, n: int) -> float:
    """The pump pipeline; returns seconds taken (until every message is confirmed and acked)."""
    app = pump.Application(exit_when_finished=False)
    app.add_connection(AMQPConnection(app, "amqp", config={"url": url}))
    pipeline = pump.Pipeline(app, "bench")
    source = AMQPSource(
        app,
        pipeline,
        "amqp",
        config={"queue": names.input, "prefetch_count": PREFETCH, "batch_size": BATCH},
    )
    pipeline.build(
        source,
        JsonParser(app, pipeline),
        AddField(app, pipeline),
        JsonSerializer(app, pipeline),
        AMQPSink(app, pipeline, "amqp", config={"exchange": names.exchange, "routing_key": "out"}),
    )
    app.add_pipeline(pipeline)
    await app.start()
    start = time.perf_counter()
    while source.acknowledged < n:
        await asyncio.sleep(0.005)  # a cheap poll: the pipeline's own work dominates
    elapsed = time.perf_counter() - start
    assert await app.stop() == 0
    return elapsed


async def measure(url: str, n: int, rounds: int) -> dict[str, float]:
    results = {"aio_pika_loop": 0.0, "pump": 0.0}
    runners = {"aio_pika_loop": run_aio_pika_loop, "pump": run_pump}
    for _ in range(rounds):
        for name, runner in runners.items():
            names = Names()
            await prepare(url, names, n)
            elapsed = await runner(url, names, n)
            await check_and_clean(url, names, n)
            results[name] = max(results[name], n / elapsed)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=os.environ.get("PUMP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    results = asyncio.run(measure(args.url, args.messages, args.rounds))
    report(
        "amqp",
        results,
        reference="aio_pika_loop",
        subject="pump",
        messages=args.messages,
        batch=BATCH,
        prefetch=PREFETCH,
    )


if __name__ == "__main__":
    main()
