"""Faults against a real RabbitMQ: a killed pump, dropped connections, poison messages, two workers.

Every test checks the delivery guarantee: each input message ends up in the output (at least
once), and nothing is left unacknowledged in the input queue.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import pump
from pump.common import JsonParser, JsonSerializer
from pump.metrics import metric_families
from pump_amqp import AMQPConnection, AMQPSink, AMQPSource

pytestmark = pytest.mark.service

HERE = Path(__file__).resolve().parent
WORKER = HERE / "amqp_worker.yaml"


def start_worker(
    url: str,
    queue: str,
    exchange: str,
    name: str,
    *,
    delay: float = 0.0,
    prefetch: int = 100,
    batch_size: int = 20,
) -> subprocess.Popen[bytes]:
    """`pump run amqp_worker.yaml` in a process of its own."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "PUMP_AMQP_URL": url,
        "WORKER_QUEUE": queue,
        "WORKER_EXCHANGE": exchange,
        "WORKER_NAME": name,
        "WORKER_DELAY": str(delay),
        "WORKER_PREFETCH": str(prefetch),
        "WORKER_BATCH_SIZE": str(batch_size),
    }
    pump_cli = [sys.executable, "-c", "import sys; from pump.cli import main; sys.exit(main())"]
    return subprocess.Popen(
        [*pump_cli, "run", str(WORKER), "--progress", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


async def stop_worker(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    for _ in range(int(timeout / 0.05)):
        if process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    else:
        process.kill()
        process.wait()
        raise AssertionError(f"worker did not stop within {timeout}s")
    return process.returncode


def output_of(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    return process.stdout.read().decode(errors="replace")[-3000:]


async def pipeline_setup(
    broker: Any, n: int, publish: bool = True
) -> tuple[str, str, str, list[int]]:
    source_queue = await broker.queue()
    exchange = await broker.exchange()
    output = await broker.queue()
    await broker.bind(output, exchange, "out")
    ids = list(range(n))
    if publish:
        await broker.publish([{"id": i} for i in ids], queue=source_queue)
    return source_queue, exchange, output, ids


async def wait_all_ids(
    broker: Any,
    output: str,
    ids: list[int],
    received: list[dict[str, Any]],
    timeout: float,
    alive: Any = None,
) -> bool:
    wanted = set(ids)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        received.extend(await broker.take_json(output))
        if wanted <= {e["id"] for e in received}:
            return True
        if alive is not None and not alive():
            return False
        await asyncio.sleep(0.1)
    return False


async def test_sigkill_mid_stream_loses_nothing(broker: Any) -> None:
    source_queue, exchange, output, ids = await pipeline_setup(broker, 2000)
    worker = start_worker(broker.url, source_queue, exchange, "first", delay=0.0005, prefetch=200)
    try:
        assert await broker.wait_count(output, 300, timeout=30) >= 300, output_of(worker)
    finally:
        await stop_worker(worker, signal.SIGKILL)
    assert worker.returncode == -signal.SIGKILL
    received: list[dict[str, Any]] = await broker.take_json(output)
    assert len({e["id"] for e in received}) < len(ids), (
        "killed too late: everything was already done"
    )

    second = start_worker(broker.url, source_queue, exchange, "second")
    try:
        done = await wait_all_ids(
            broker, output, ids, received, timeout=60, alive=lambda: second.poll() is None
        )
    finally:
        code = await stop_worker(second)
    assert done, (
        f"messages lost: {sorted(set(ids) - {e['id'] for e in received})[:20]} ... "
        f"{output_of(second)}"
    )
    assert code == 0, output_of(second)
    counts = Counter(e["id"] for e in received)
    assert set(counts) == set(ids)
    # the unacknowledged messages of the killed worker were redelivered to the second one
    assert {e["worker"] for e in received} == {"first", "second"}
    assert await broker.count(source_queue) == 0


async def wait_at_least(count: Any, at_least: int, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while await count() < at_least:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_two_workers_on_one_queue_share_the_work_and_output_everything(broker: Any) -> None:
    source_queue, exchange, output, ids = await pipeline_setup(broker, 1000, publish=False)
    workers = [
        start_worker(
            broker.url, source_queue, exchange, name, delay=0.001, prefetch=20, batch_size=10
        )
        for name in ("a", "b")
    ]
    received: list[dict[str, Any]] = []
    try:
        # both consume before the work arrives, so neither gets a head start
        assert await wait_at_least(lambda: broker.consumers(source_queue), 2, timeout=30), [
            output_of(w) for w in workers
        ]
        await broker.publish([{"id": i} for i in ids], queue=source_queue)
        done = await wait_all_ids(
            broker,
            output,
            ids,
            received,
            timeout=60,
            alive=lambda: all(w.poll() is None for w in workers),
        )
    finally:
        codes = [await stop_worker(w) for w in workers]
    assert done, [output_of(w) for w in workers]
    assert codes == [0, 0], [output_of(w) for w in workers]
    by_worker = Counter(e["worker"] for e in received)
    assert set(by_worker) == {"a", "b"}
    assert min(by_worker.values()) >= len(ids) * 0.2, f"the work was not shared: {by_worker}"
    assert {e["id"] for e in received} == set(ids)
    assert await broker.count(source_queue) == 0


class Slow(pump.Processor):
    def process(self, context: dict[str, Any], event: Any) -> Any:
        import time

        time.sleep(0.0005)
        event["seen"] = True
        return event


async def test_dropped_connections_reconnect_and_lose_nothing(
    broker: Any, amqp_app: pump.Application, rabbitmqctl: str, wait: Any
) -> None:
    source_queue, exchange, output, ids = await pipeline_setup(broker, 3000)
    pipeline = pump.Pipeline(
        amqp_app, "p", config={"retry_backoff": 0.05, "retry_backoff_max": 0.5}
    )
    source = AMQPSource(
        amqp_app,
        pipeline,
        "amqp",
        config={"queue": source_queue, "prefetch_count": 200, "batch_size": 50},
    )
    sink = AMQPSink(
        amqp_app,
        pipeline,
        "amqp",
        config={"exchange": exchange, "routing_key": "out", "publish_timeout": 10},
    )
    pipeline.build(
        source,
        JsonParser(amqp_app, pipeline),
        Slow(amqp_app, pipeline),
        JsonSerializer(amqp_app, pipeline),
        sink,
    )
    amqp_app.add_pipeline(pipeline)
    await amqp_app.start()
    connection: AMQPConnection = amqp_app.Connections["amqp"]  # type: ignore[assignment]
    assert await wait(lambda: pipeline.counters.events_out >= 300, timeout=30)
    closed = subprocess.run(
        [rabbitmqctl, "close_all_connections", "pump-amqp test: injected connection drop"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert closed.returncode == 0, closed.stderr
    received: list[dict[str, Any]] = []
    assert await wait_all_ids(broker, output, ids, received, timeout=60), (
        f"lost: {len(set(ids) - {e['id'] for e in received})}; "
        f"errors: {[e.as_dict() for e in pipeline.errors]}"
    )
    assert connection.reconnects == 1
    assert amqp_app.metrics()["connections"]["amqp"] == {"connected": 1, "reconnects": 1}
    assert source.reconnects == 1 and sink.channels_opened == 2
    families = metric_families(amqp_app.metrics())
    assert families["pump_connection_reconnects"].value(connection="amqp") == 1
    assert families["pump_connection_connected"].value(connection="amqp") == 1
    # consumed again on one new channel: a stale delivery tag sent on it would have made the
    # broker close it (PRECONDITION_FAILED), and the source would be on a third one
    assert source.generation == 2
    # batches of the dropped channel in flight at the drop were not acknowledged (their tags
    # are stale); the broker delivered them again, and they are in the output above
    assert source.stale() > 0
    assert sink.channels_opened == 2  # published again on a new channel
    assert not pipeline.is_error()
    assert await amqp_app.stop() == 0
    assert {e["id"] for e in received} == set(ids)
    assert await broker.count(source_queue) == 0


class Poison(pump.Processor):
    def process(self, context: dict[str, Any], event: Any) -> Any:
        if orjson.loads(event).get("poison"):
            raise ValueError("poison message")
        return event


async def run_until_poison_fails(
    broker: Any, source_config: dict[str, Any], output: str, wait: Any, expect: int | None = 0
) -> tuple[bool, AMQPSource]:
    """One pump run until it stops on the poison message (True) or wrote `expect` events (False).

    `expect=None`: stop right after the start (which declares the queue).
    """
    app = pump.Application(exit_when_finished=False, tune_runtime=False)
    app.add_connection(AMQPConnection(app, "amqp", config={"url": broker.url}))
    pipeline = pump.Pipeline(app, "p", config={"on_error": "stop"})
    source = AMQPSource(
        app, pipeline, "amqp", config={"batch_size": 1, "prefetch_count": 1, **source_config}
    )
    pipeline.build(
        source,
        Poison(app, pipeline),
        AMQPSink(app, pipeline, "amqp", config={"exchange": "", "routing_key": output}),
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        if expect is not None:
            await wait(
                lambda: pipeline.is_error() or 0 < expect <= pipeline.counters.events_out,
                timeout=10,
            )
            await asyncio.sleep(0.05)  # a failure right after the last write would show now
        failed = pipeline.is_error()
    finally:
        await app.stop(timeout=1)
    return failed, source


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_a_poison_message_reaches_the_dead_letter_exchange_after_the_limit(
    broker: Any, wait: Any, queue_type: str
) -> None:
    queue, dlx = broker.name("q"), broker.name("dlx")
    broker.forget_later(queue=queue, exchange=dlx)
    output = await broker.queue()
    dead = await broker.queue()
    limit = 3
    # redelivery "auto": quorum queues count deliveries themselves (x-delivery-count); for
    # classic ones the source requeues a counted copy (x-pump-delivery-count)
    config = {
        "queue": queue,
        "declare": True,
        "dead_letter_exchange": dlx,
        "delivery_limit": limit,
        "queue_arguments": {"x-queue-type": queue_type},
    }
    await run_until_poison_fails(
        broker, config, output, wait, expect=None
    )  # declares the queue and the DLX
    await broker.bind(dead, dlx)
    await broker.publish([{"poison": True}], queue=queue)
    failures = republished = 0
    for _ in range(limit + 2):
        failed, source = await run_until_poison_fails(broker, config, output, wait)
        failures += failed
        republished += source.republished
        if await broker.count(dead) == 1:
            break
    assert failures == limit, f"the poison message failed {failures} times, the limit is {limit}"
    assert source.dead_lettered == 1
    assert republished == (limit - 1 if queue_type == "classic" else 0)
    dead_messages = await broker.take(dead)
    assert [orjson.loads(m.body) for m in dead_messages] == [{"poison": True}]
    # nothing loops any more: the next run processes new messages without failing
    await broker.publish([{"good": 1}, {"good": 2}], queue=queue)
    failed, _ = await run_until_poison_fails(broker, config, output, wait, expect=2)
    assert not failed
    assert sorted(e["good"] for e in await broker.take_json(output)) == [1, 2]
    assert await broker.count(queue) == 0
