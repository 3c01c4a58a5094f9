"""pump.windows over a Kafka topic: one watermark per partition, state per partition, and an
idle partition that stops holding the watermark back."""

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

import pump
from pump.common import JsonParser, ListSink, NullSink
from pump.routing import InternalSource, TeeProcessor
from pump.testing.process import PumpRun
from pump.windows import TumblingWindow
from pump_kafka import KafkaConnection, KafkaSource

START = 1_700_002_800  # a whole hour


def build(
    kafka: Any, topic: str, group: str, idle: float, size: float = 10, teed: bool = False
) -> tuple[pump.Application, ListSink, TumblingWindow]:
    """Kafka → parse → window → list; `teed`: the window in a second pipeline, fed by a tee
    (it learns the upstream's partitions all the same)."""
    app = pump.Application()
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "windows")
    windowed = pump.Pipeline(app, "windowed") if teed else pipeline
    sink = ListSink(app, windowed)
    window = TumblingWindow(
        app,
        windowed,
        "window",
        config={
            "size": size,
            "key": "user",
            "time": "ts",
            "idle_timeout": idle,
            "time_format": "epoch",
        },
    )
    source = KafkaSource(app, pipeline, "kafka", config=kafka.source_config(topic, group))
    if teed:
        tee = TeeProcessor(app, pipeline, config={"target": "windowed"})
        pipeline.build(source, JsonParser(app, pipeline), tee, NullSink(app, pipeline))
        windowed.build(InternalSource(app, windowed), window, sink)
        app.add_pipeline(windowed)
    else:
        pipeline.build(source, JsonParser(app, pipeline), window, sink)
    app.add_pipeline(pipeline)
    return app, sink, window


@pytest.mark.parametrize("teed", [False, True], ids=["window", "window_behind_a_tee"])
async def test_a_quiet_partition_holds_the_watermark_until_it_is_idle(
    kafka: Any, teed: bool
) -> None:
    topic = await kafka.create_topic(partitions=2)
    await kafka.produce(topic, [{"ts": t, "user": "a"} for t in range(10)], partition=0)
    await kafka.produce(topic, [{"ts": t, "user": "b"} for t in range(6)], partition=1)
    app, sink, window = build(kafka, topic, kafka.name("g"), idle=3.0, teed=teed)
    await app.start()
    try:
        assert await kafka.wait_for(lambda: window.counters.events_in == 16, timeout=15)
        # partition 0 goes on to t=99; partition 1 stays at 5 and holds the watermark back
        await kafka.produce(topic, [{"ts": t, "user": "a"} for t in range(10, 100)], partition=0)
        assert await kafka.wait_for(lambda: window.counters.events_in == 106, timeout=15)
        assert sink.events == []
        assert window.Watermarks.value < 10
        # once partition 1 has been quiet for 3 s, partition 0 alone moves it on
        assert await kafka.wait_for(lambda: len(sink.events) == 10, timeout=15)
        rows = sorted((e["key"], e["start"], e["count"]) for e in sink.events)
    finally:
        assert await app.stop() == 0
    # every window of both partitions that ends by 99 (the one still open stays in state)
    assert rows == [("a", s, 10) for s in range(0, 90, 10)] + [("b", 0, 6)]
    assert window.counters.extra["late_events"] == 0


@pytest.mark.parametrize("teed", [False, True], ids=["window", "window_behind_a_tee"])
async def test_a_fresh_run_over_partitions_marks_nothing_late(kafka: Any, teed: bool) -> None:
    """Four partitions over the same two hours of event time, the first full long before the
    others are read: nothing is late, and every window's count is the input's (the partitions
    assigned hold the watermark back until they deliver)."""
    partitions = 4
    topic = await kafka.create_topic(partitions=partitions)
    rng = random.Random(5)
    expected: Counter[tuple[str, int]] = Counter()
    per_partition = [20_000, 2_000, 2_000, 500]
    for p, n in enumerate(per_partition):
        events = []
        for i in range(n):
            ts = START + i * 7200 // n
            user = f"u{rng.randrange(7)}"
            expected[(user, ts - ts % 600)] += 1
            events.append({"ts": ts, "user": user})
        events.append({"ts": START + 6 * 3600, "user": "end"})  # closes every window above
        await kafka.produce(topic, events, partition=p)
    app, sink, window = build(kafka, topic, kafka.name("g"), idle=60.0, size=600, teed=teed)
    total = sum(per_partition) + partitions
    await app.start()
    try:
        assert await kafka.wait_for(lambda: window.counters.events_in == total, timeout=30)
        # what the input closed (without a state store, stopping closes what is left: behind
        # a tee the window still runs when the source's partitions are revoked)
        rows = list(sink.events)
    finally:
        assert await app.stop() == 0
    assert window.counters.extra["late_events"] == 0
    counts: Counter[tuple[str, int]] = Counter()
    for row in rows:  # a window per partition: the same key and start in several
        counts[(row["key"], row["start"])] += row["count"]
    assert counts == expected


WORKER = """
connections:
  kafka: {type: kafka, bootstrap_servers: "${PUMP_KAFKA_BOOTSTRAP}"}
pipelines:
  hourly:
    source:
      type: kafka
      connection: kafka
      topic: "${TOPIC}"
      group_id: "${GROUP}"
      max_batch: 500
      commit_interval: 0.2
      session_timeout_ms: 2000
      heartbeat_interval_ms: 300
      rebalance_timeout_ms: 1000
    processors:
      - {type: json.parse}
      - {type: python, class: "slow:Slow"}     # a few seconds in all: the kills land mid-way
      - {type: window.tumbling, key: user, time: ts, size: 1h, time_format: epoch}
    sink: {type: file.jsonl, path: "out/windows-{pid}.jsonl"}   # a file per run
    state_dir: state
    checkpoint_interval: 0.1
"""
SLOW = """
import time

import pump


class Slow(pump.Processor):
    def process_batch(self, contexts, events):
        time.sleep(0.02)
        return None
"""


class Worker(PumpRun):
    """`pump run` of WORKER in `folder` (output appended to its log.txt)."""

    def __init__(self, folder: Path, kafka: Any, topic: str, group: str) -> None:
        self.folder = folder
        self.starts = self._starts(folder / "log.txt")
        env = {
            "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
            "PUMP_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "TOPIC": topic,
            "GROUP": group,
        }
        super().__init__("hourly.yaml", env, cwd=folder, log=folder / "log.txt")

    @staticmethod
    def _starts(log: Path) -> int:
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.count("partitions assigned")

    async def assigned(self) -> None:
        """Wait until its consumer got its partitions."""
        deadline = time.monotonic() + 60
        while self._starts(self.log) == self.starts:
            assert self.alive(), self.output()
            assert time.monotonic() < deadline, "the worker got no partitions"
            await asyncio.sleep(0.05)


def window_rows(folder: Path) -> list[dict[str, Any]]:
    """Every window written: published files, and the one the sink is writing (hidden until it
    is finished; a killed run's is published by the next run)."""
    out = folder / "out"
    rows = []
    for path in sorted(out.glob("windows*.jsonl")) + sorted(out.glob(".windows*.inprogress")):
        for line in path.read_bytes().splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:  # the line being written right now
                assert path.suffix == ".inprogress", line
    return rows


async def test_sigkill_five_times_during_an_hour_window_over_kafka(
    kafka: Any, tmp_path: Path
) -> None:
    """Five SIGKILLs of `pump run` while it fills one-hour windows from a two-partition topic;
    then a run until every window closed: the counts equal a clean run's, exactly."""
    (tmp_path / "hourly.yaml").write_text(WORKER)
    (tmp_path / "slow.py").write_text(SLOW)
    topic = await kafka.create_topic(partitions=2)
    group = kafka.name("g")
    rng = random.Random(3)
    expected: Counter[tuple[str, int]] = Counter()
    events = []
    n = 60_000
    for i in range(n):
        ts = START + i * (3 * 3600 + 1800) // n
        user = f"u{rng.randrange(5)}"
        expected[(user, ts - ts % 3600)] += 1
        events.append({"ts": ts, "user": user})
    # a key per partition, so each partition's times only grow
    by_partition: list[list[dict[str, Any]]] = [[], []]
    for event in events:
        by_partition[int(event["user"][1:]) % 2].append(event)
    for p, part in enumerate(by_partition):
        # the last event, hours later, moves the watermark past every window of the input
        await kafka.produce(topic, [*part, {"ts": START + 10 * 3600, "user": "end"}], partition=p)
    killed = 0
    windows_after_kills = []
    for _ in range(5):
        worker = Worker(tmp_path, kafka, topic, group)
        try:
            await worker.assigned()
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            killed += worker.kill()
        finally:
            worker.kill()
        windows_after_kills.append(len({(r["key"], r["start"]) for r in window_rows(tmp_path)}))
    assert killed >= 3
    # some kill came before every window was out: the windows were in the middle
    assert min(windows_after_kills) < len(expected), windows_after_kills
    emitted_before = len(window_rows(tmp_path))

    worker = Worker(tmp_path, kafka, topic, group)
    try:
        await worker.assigned()
        done = len(expected)
        closed = await kafka.wait_for(
            lambda: len({(r["key"], r["start"]) for r in window_rows(tmp_path)}) >= done,
            timeout=40,
        )
    finally:
        assert await worker.finish() == 0
    assert closed, (
        emitted_before,
        sorted({(r["key"], r["start"]) for r in window_rows(tmp_path)}),
        worker.log.read_text()[-3000:],
    )
    rows = window_rows(tmp_path)
    final: dict[tuple[str, int], int] = {}
    for row in rows:
        window = (row["key"], row["start"])
        assert final.setdefault(window, row["count"]) == row["count"], window
    assert final == dict(expected)
