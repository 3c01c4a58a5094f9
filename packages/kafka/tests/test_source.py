"""KafkaSource against a real broker: record metadata in the context; at-least-once with a failing
sink (nothing lost, no commit ever passes an unfinished event); commits counted in the metrics."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

import pump
from pump.metrics import metric_families
from pump_kafka import KafkaConnection, KafkaSource

PARTITIONS = 3


class FlakySink(pump.Sink):
    """Writes 'durably' after a short delay; some writes fail whole, some fail for a few events.

    `done` holds (partition, offset) of every event at the moment its write succeeded — before
    the pipeline can acknowledge it, so at any time it is a superset of what may be committed.
    """

    def __init__(
        self,
        app: Any,
        pipeline: Any,
        *,
        failure_rate: float = 0.0,
        poison: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(app, pipeline)
        self.failure_rate = failure_rate
        self.poison = poison
        self.done: set[tuple[int, int]] = set()
        self.seqs: list[int] = []
        self.failures = 0
        self.random = random.Random(7)

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Any:
        return self._write(list(events), list(contexts))

    async def _write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
        await asyncio.sleep(self.random.uniform(0, 0.01))
        errors: dict[int, BaseException] = {}
        roll = self.random.random()
        for i, event in enumerate(events):
            seq = orjson.loads(event)["seq"]
            if seq in self.poison:
                errors[i] = ValueError(f"poison event {seq}")
            elif roll < self.failure_rate / 2 or (
                roll < self.failure_rate and self.random.random() < 0.3
            ):
                errors[i] = ConnectionError("injected write failure")
        for i, (event, context) in enumerate(zip(events, contexts, strict=True)):
            if i not in errors:
                self.done.add((context["kafka_partition"], context["kafka_offset"]))
                self.seqs.append(orjson.loads(event)["seq"])
        if errors:
            self.failures += 1
            if len(errors) == len(events):
                raise next(iter(errors.values()))
            raise pump.PartialWriteError(errors)


class CommitWatcher:
    """Reads the group's committed offsets repeatedly; keeps any commit past an unfinished event."""

    def __init__(self, kafka: Any, group: str, topic: str, sink: FlakySink) -> None:
        self.kafka = kafka
        self.group = group
        self.topic = topic
        self.sink = sink
        self.violations: list[str] = []
        self.checks = 0
        self.nonzero_checks = 0

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap, group_id=self.group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            while True:
                for p in range(PARTITIONS):
                    committed = await consumer.committed(TopicPartition(self.topic, p))
                    self.check(p, committed)
                await asyncio.sleep(0.02)
        finally:
            await consumer.stop()

    def check(self, partition: int, committed: int | None) -> None:
        self.checks += 1
        if not committed:
            return
        self.nonzero_checks += 1
        unfinished = [o for o in range(committed) if (partition, o) not in self.sink.done]
        if unfinished:
            self.violations.append(
                f"partition {partition} committed at {committed} "
                f"while offsets {unfinished[:5]} were not written"
            )


def build(
    kafka: Any, topic: str, group: str, sink_factory: Any, **pipeline_config: Any
) -> tuple[pump.Application, pump.Pipeline, Any]:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 400, **pipeline_config})
    sink = sink_factory(app, pipeline)
    pipeline.build(
        KafkaSource(
            app,
            pipeline,
            "kafka",
            config=kafka.source_config(topic, group, max_batch=50, commit_interval=0.02),
        ),
        sink,
    )
    app.add_pipeline(pipeline)
    return app, pipeline, sink


async def test_failing_writes_lose_nothing_and_commits_never_pass_unfinished_events(
    kafka: Any,
) -> None:
    n = 3000
    topic = await kafka.create_topic(partitions=PARTITIONS)
    group = kafka.name("g")
    await kafka.produce_spread(topic, [{"seq": i} for i in range(n)], PARTITIONS)
    app, pipeline, sink = build(
        kafka,
        topic,
        group,
        lambda a, p: FlakySink(a, p, failure_rate=0.25),
        sink_retries=-1,
        retry_backoff=0.005,
        retry_backoff_max=0.02,
    )
    watcher = CommitWatcher(kafka, group, topic, sink)
    watching = asyncio.ensure_future(watcher.run())
    await app.start()
    try:
        assert await kafka.wait_for(lambda: len(set(sink.seqs)) == n, timeout=60), (
            f"only {len(set(sink.seqs))} of {n} events were written"
        )
        ends = {p: 0 for p in range(PARTITIONS)}
        for partition, offset in sink.done:
            ends[partition] = max(ends[partition], offset + 1)
        # Everything written gets committed as the source goes (not only at stop).
        committed_while_running = await kafka.committed(group, topic, PARTITIONS)
        for _ in range(50):
            if committed_while_running == ends:
                break
            await asyncio.sleep(0.05)
            committed_while_running = await kafka.committed(group, topic, PARTITIONS)
        assert committed_while_running == ends
        await asyncio.sleep(0.1)  # let the watcher see the last commits
    finally:
        assert await app.stop() == 0
        watching.cancel()
    assert sink.failures >= 8, "the sink should have failed many writes"
    assert watcher.nonzero_checks >= 5, (
        "the watcher should have seen commits while the pipeline ran"
    )
    assert not watcher.violations, "\n".join(watcher.violations[:5])
    assert sorted(set(sink.seqs)) == list(range(n))
    assert await kafka.committed(group, topic, PARTITIONS) == ends
    # Every commit is counted, and the count reaches the metrics and the Prometheus text.
    source = pipeline.Sources[0]
    # every commit the watcher saw came from a commit the source counted (several may coalesce)
    assert source.commits > 0
    assert pipeline.metrics()["components"][source.Id]["commits"] == source.commits
    commits = metric_families(app.metrics())["pump_component_commits"]
    assert commits.value(pipeline=pipeline.Id, component=source.Id) == source.commits


async def test_rejected_event_stops_commits_before_it_and_comes_again(kafka: Any) -> None:
    n = 600
    topic = await kafka.create_topic(partitions=PARTITIONS)
    group = kafka.name("g")
    await kafka.produce_spread(topic, [{"seq": i} for i in range(n)], PARTITIONS)
    poison_seq = 301  # partition 301 % 3 == 1, offset 301 // 3 == 100
    app, pipeline, sink = build(
        kafka,
        topic,
        group,
        lambda a, p: FlakySink(a, p, poison=frozenset({poison_seq})),
        on_error="stop",
        sink_retries=1,
        retry_backoff=0.005,
    )
    await app.start()
    try:
        assert await kafka.wait_for(pipeline.is_error, timeout=30)
        await asyncio.sleep(0.3)  # commits that might wrongly pass it would have happened by now
    finally:
        await app.stop()
    committed = await kafka.committed(group, topic, PARTITIONS)
    assert committed[1] is not None and committed[1] <= 100, committed
    assert (1, 100) not in sink.done
    # Restart with a healthy sink: the rejected event (and whatever was not committed) comes again.
    app, pipeline, healthy = build(kafka, topic, group, lambda a, p: FlakySink(a, p))
    await app.start()
    try:
        assert await kafka.wait_for(lambda: poison_seq in healthy.seqs, timeout=30)
        assert await kafka.wait_for(
            lambda: len(set(sink.seqs) | set(healthy.seqs)) == n, timeout=30
        )
    finally:
        assert await app.stop() == 0
    assert min(healthy.seqs) >= 0 and (1, 100) in healthy.done


async def test_context_carries_the_record_metadata(kafka: Any) -> None:
    topic = await kafka.create_topic()
    await kafka.produce(topic, [b"a", b"b"], keys=[b"k1", None], headers=[("h", b"v")])
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    sink = pump.common.ListSink(app, pipeline)
    pipeline.build(
        KafkaSource(app, pipeline, "kafka", config=kafka.source_config(topic, kafka.name("g"))),
        sink,
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(lambda: pipeline.counters.events_out == 2)
    finally:
        await app.stop()
    assert sink.events == [b"a", b"b"]
    first, second = sink.contexts
    assert (first["kafka_offset"], second["kafka_offset"]) == (0, 1)
    assert first["kafka_topic"] == topic and first["kafka_partition"] == 0
    assert first["kafka_key"] == b"k1" and second["kafka_key"] is None
    assert list(first["kafka_headers"]) == [("h", b"v")]
    assert isinstance(first["kafka_timestamp"], int) and first["kafka_timestamp"] > 0
