"""Stateful processing of a topic is exact across crashes and rebalances: `pump run` counting
keys into SQLite state is SIGKILLed five times, or two processes share the partitions (one
joining, one killed); the final counts equal the topic's exactly — nothing lost, nothing counted
twice (the source commits lag the state's checkpoints, so restarts replay events the restored
state already holds)."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from pump.testing.process import PumpRun
from pump.testing.state import kill_repeatedly, read_positions, state_totals
from pump_kafka.testing import assigned_partitions

HERE = Path(__file__).resolve().parent
WORKER = HERE / "state_worker.yaml"
WINDOW_WORKER = HERE / "window_worker.yaml"
PARTITIONS = 4
KEYS = 1000


class StateWorker(PumpRun):
    """`pump run state_worker.yaml` in its own process; its log in a file."""

    def __init__(
        self,
        kafka: Any,
        topic: str,
        group: str,
        state_dir: Path,
        worker: Path = WORKER,
        **settings: Any,
    ):
        env = {
            "PUMP_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "WORKER_INPUT": topic,
            "WORKER_GROUP": group,
            "WORKER_STATE_DIR": str(state_dir),
            **{f"WORKER_{k.upper()}": str(v) for k, v in settings.items()},
        }
        super().__init__(worker, env)

    def assigned(self) -> set[int] | None:
        return assigned_partitions(self.text())


async def produce_keys(kafka: Any, n: int) -> tuple[str, Counter[str]]:
    topic = await kafka.create_topic(partitions=PARTITIONS)
    rng = random.Random()
    keys = [f"k{rng.randrange(KEYS)}" for _ in range(n)]
    await kafka.produce_spread(topic, [{"key": k} for k in keys], PARTITIONS)
    return topic, Counter(keys)


async def all_committed(
    kafka: Any, group: str, topic: str, n: int, partitions: int = PARTITIONS
) -> bool:
    committed = await kafka.committed(group, topic, partitions)
    return sum(c or 0 for c in committed.values()) == n


async def test_counts_survive_five_sigkills_exactly(kafka: Any, tmp_path: Path) -> None:
    n = 200_000
    topic, expected = await produce_keys(kafka, n)
    group = kafka.name("g")
    state_dir = tmp_path / "state"
    made: list[StateWorker] = []

    slow = {"pause_every": 500, "pause": 0.02}  # ≤ 25,000 events/s: kills land mid-stream

    def start() -> subprocess.Popen[bytes]:
        made.append(StateWorker(kafka, topic, group, state_dir, **slow))
        return made[-1].process

    try:
        # kill_repeatedly blocks: run it in a thread so the event loop (and fixtures) stay free
        kills = await asyncio.to_thread(
            kill_repeatedly, start, lambda: read_positions(state_dir), 5, after=(0.05, 0.6)
        )
        assert kills == 5, "the runs ended before they could be killed"
        counted = sum(state_totals(state_dir, "counter").values())
        assert counted < n, "".join(w.text()[-1500:] for w in made)
        last = StateWorker(kafka, topic, group, state_dir)  # full speed
        made.append(last)
        done = await kafka.wait_for(lambda: all_committed(kafka, group, topic, n), timeout=120)
        assert done, last.text()[-3000:]
        assert await last.finish() == 0, last.text()[-3000:]
        assert state_totals(state_dir, "counter") == expected
        logs = "".join(w.text() for w in made)
        assert "already in the restored state" in logs  # replays happened, and were skipped
    finally:
        for worker in made:
            worker.stop(graceful=False)


@pytest.mark.parametrize("through", ["a shared state_dir", "the changelog"])
async def test_two_processes_share_partitions_and_state_across_rebalances(
    kafka: Any, tmp_path: Path, through: str
) -> None:
    n = 200_000
    topic, expected = await produce_keys(kafka, n)
    group = kafka.name("g")
    # a partition's state follows it through the folder both use, or through the changelog
    # topics (each process with a folder of its own, as on two hosts)
    changelog = through == "the changelog"
    state_dir = tmp_path / "state"
    b_dir = tmp_path / "state-b" if changelog else state_dir
    slow: dict[str, Any] = {"pause_every": 500, "pause": 0.02}  # ≤ 25,000 events/s each
    if changelog:
        slow["changelog"] = "kafka"
    a = StateWorker(kafka, topic, group, state_dir, **slow)
    b: StateWorker | None = None
    try:
        assert await kafka.wait_for(lambda: a.assigned() == set(range(PARTITIONS)), timeout=30)
        assert await kafka.wait_for(lambda: read_positions(state_dir), timeout=30)
        b = StateWorker(kafka, topic, group, b_dir, **slow)

        def shared() -> bool:
            got_a, got_b = a.assigned(), b.assigned() if b else None
            return bool(got_a and got_b) and got_a | got_b == set(range(PARTITIONS))

        assert await kafka.wait_for(shared, timeout=30), a.text()[-2000:]
        # B checkpoints state of its partitions (loaded from what A checkpointed)
        b_partitions = {f"{topic}[{p}]" for p in b.assigned() or ()}
        assert await kafka.wait_for(
            lambda: b_partitions & {part for _, part in read_positions(b_dir)}, timeout=30
        )
        assert not await all_committed(kafka, group, topic, n), "the kill should come mid-stream"
        a.kill()  # B takes A's partitions after the session timeout
        assert await kafka.wait_for(lambda: b.assigned() == set(range(PARTITIONS)), timeout=30)
        done = await kafka.wait_for(lambda: all_committed(kafka, group, topic, n), timeout=120)
        assert done, b.text()[-3000:]
        assert await b.finish() == 0, b.text()[-3000:]
        assert "partitions revoked" in a.text()  # B's joining took partitions from A gracefully
        # B holds every partition now (restored from the changelog: A's were never in its folder)
        totals = state_totals(b_dir, "counter")
        assert totals == expected, (
            f"{sum(totals.values())} counted of {n}\nA:\n{a.text()[-4000:]}\nB:\n{b.text()[-6000:]}"
        )
        if changelog:
            assert re.search(r"changelog .*: restored partition", b.text()), b.text()[-3000:]
    finally:
        a.stop(graceful=False)
        if b is not None:
            b.stop(graceful=False)


async def produce_hours(
    kafka: Any, per_partition: int = 25_000
) -> tuple[str, Counter[tuple[str, int]], int]:
    """A topic of PARTITIONS partitions over the same four hours of event time, keys of their
    own in each (so that each window's count is one partition's), then an event 6 hours on in
    each that closes every window. Returns the topic, the count per (key, hour) a clean run
    finds, and the number of records."""
    start = 1_700_000_000 - 1_700_000_000 % 3600
    rng = random.Random()
    topic = await kafka.create_topic(partitions=PARTITIONS)
    clean: Counter[tuple[str, int]] = Counter()
    for p in range(PARTITIONS):
        events = [
            {"ts": start + i * 4 * 3600 // per_partition, "user": f"p{p}-u{rng.randrange(20)}"}
            for i in range(per_partition)
        ]
        clean.update((e["user"], start + (e["ts"] - start) // 3600 * 3600) for e in events)
        events.append({"ts": start + 6 * 3600, "user": f"p{p}-closer"})
        await kafka.produce(topic, events, partition=p)
    return topic, clean, PARTITIONS * (per_partition + 1)


async def test_one_hour_windows_survive_five_sigkills_exactly(kafka: Any, tmp_path: Path) -> None:
    # Each run starts with every partition assigned and not yet delivered: which one is
    # fetched first must not make another's events late.
    topic, clean, n = await produce_hours(kafka)
    group = kafka.name("g")
    state_dir, out = tmp_path / "state", tmp_path / "out"
    made: list[StateWorker] = []

    def start_worker(**settings: Any) -> StateWorker:
        made.append(
            StateWorker(kafka, topic, group, state_dir, WINDOW_WORKER, output=out, **settings)
        )
        return made[-1]

    try:
        kills = await asyncio.to_thread(
            kill_repeatedly,
            lambda: start_worker().process,
            lambda: read_positions(state_dir),
            5,
            after=(0.05, 0.6),
        )
        assert kills == 5, "the runs ended before they could be killed"
        last = start_worker(pause=0)
        done = await kafka.wait_for(lambda: all_committed(kafka, group, topic, n), timeout=120)
        assert done, last.text()[-3000:]
        assert await kafka.wait_for(lambda: clean.keys() <= written_windows(out).keys(), 30)
        assert await last.finish() == 0, last.text()[-3000:]
        logs = "".join(w.text() for w in made)
    finally:
        for worker in made:
            worker.stop(graceful=False)
    # every window of the four hours, each written with the clean run's count only (written
    # again after a kill, at least once, never with another count); the closers' stay open
    assert written_windows(out) == {key: {count} for key, count in clean.items()}
    assert "already in the restored state" in logs


def written_windows(*folders: Path) -> dict[tuple[str, int], set[int]]:
    """(key, start) → every count written for it, in the parts the sinks finished and in the
    one a killed run left unfinished (its last line may be cut off)."""
    written: dict[tuple[str, int], set[int]] = {}
    for folder in folders:
        parts = sorted(folder.glob("part-*.jsonl")) + sorted(folder.glob(".part-*.inprogress"))
        for part in parts:
            for line in part.read_bytes().splitlines():
                try:
                    window = orjson.loads(line)
                except orjson.JSONDecodeError:
                    assert part.suffix == ".inprogress", line
                    continue
                key = (window["key"], int(window["start"]))
                written.setdefault(key, set()).add(window["count"])
    return written


@pytest.mark.parametrize("through", ["a shared state_dir", "the changelog"])
async def test_windows_keep_exact_counts_across_a_rebalance_between_two_processes(
    kafka: Any, tmp_path: Path, through: str
) -> None:
    """A reads every partition slowly; B joins (a rebalance), finishes its partitions and
    closes their windows; A is killed and B takes its partitions over, behind in event time
    and restored from A's checkpoints: every window is written with the clean run's count.

    A short idle timeout, so that a process counting partitions it does not own (or skipping
    partitions whose records wait behind its slow pipeline) would show in the counts."""
    topic, clean, n = await produce_hours(kafka)
    group = kafka.name("g")
    state_dir, out_a, out_b = tmp_path / "state", tmp_path / "out-a", tmp_path / "out-b"
    settings: dict[str, Any] = {"idle": "2s"}
    b_dir = state_dir
    if through == "the changelog":  # a folder each, as on two hosts
        settings["changelog"] = "kafka"
        b_dir = tmp_path / "state-b"
    a = StateWorker(
        kafka, topic, group, state_dir, WINDOW_WORKER, output=out_a, pause=0.1, **settings
    )
    b: StateWorker | None = None
    try:
        assert await kafka.wait_for(lambda: a.assigned() == set(range(PARTITIONS)), timeout=30)
        assert await kafka.wait_for(lambda: read_positions(state_dir), timeout=30)
        b = StateWorker(
            kafka, topic, group, b_dir, WINDOW_WORKER, output=out_b, pause=0, **settings
        )
        assert await kafka.wait_for(lambda: bool(b and b.assigned()), timeout=30), b.text()
        b_partitions = b.assigned() or set()
        assert b_partitions and b_partitions != set(range(PARTITIONS)), b_partitions
        # B finishes its partitions and closes their windows, while A is still at work
        b_windows = {w for w in clean if int(w[0][1]) in b_partitions}
        assert await kafka.wait_for(
            lambda: b_windows <= written_windows(out_a, out_b).keys(), timeout=60
        ), b.text()[-3000:]
        assert not await all_committed(kafka, group, topic, n), "A should be mid-way"
        a.kill()
        assert await kafka.wait_for(lambda: b.assigned() == set(range(PARTITIONS)), timeout=30)
        done = await kafka.wait_for(lambda: all_committed(kafka, group, topic, n), timeout=60)
        assert done, b.text()[-3000:]
        assert await kafka.wait_for(
            lambda: clean.keys() <= written_windows(out_a, out_b).keys(), timeout=30
        ), b.text()[-3000:]
        assert await b.finish() == 0, b.text()[-3000:]
        if through == "the changelog":  # A's partitions were never in B's folder
            assert re.search(r"changelog .*: restored partition", b.text()), b.text()[-3000:]
    finally:
        a.stop(graceful=False)
        if b is not None:
            b.stop(graceful=False)
    written = written_windows(out_a, out_b)
    wrong = {w: counts for w, counts in written.items() if w in clean and counts != {clean[w]}}
    assert not wrong, (wrong, clean)
    assert written.keys() == clean.keys()  # the closers' windows stay open
