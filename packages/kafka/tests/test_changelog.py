"""The state changelog on a real broker: chunks written to `<prefix>.<processor>.<topic>`,
restored by a process with nothing local, deltas on the base they build on."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump.state import MemoryBackend
from pump.state.backend import PartitionChanges, Snapshot, encode_chunk
from pump_kafka import KafkaConnection
from pump_kafka.changelog import ChangelogError, KafkaChangelog, kafka_partition


def change(partition: str, seq: int, values: dict, deleted=(), *, base=False, positions=None):
    return PartitionChanges(
        "count:er",
        partition,
        encode_chunk(values, list(deleted)),
        base,
        positions or {},
        [],
        seq,
    )


async def changelog(kafka: Any, prefix: str, local: Any = None) -> KafkaChangelog:
    app = pump.Application()
    connection = KafkaConnection(app, "kafka", config=kafka.connection_config())
    backend = connection.state_changelog(local or MemoryBackend(), prefix)
    assert isinstance(backend, KafkaChangelog)
    await backend.open_async("p")
    return backend


def test_state_partitions_that_are_kafka_partitions():
    assert kafka_partition("orders.v2[11]") == ("orders.v2", 11)
    assert kafka_partition("") is None and kafka_partition("file.log") is None


async def test_a_process_with_nothing_local_restores_from_the_changelog(kafka: Any) -> None:
    source = await kafka.create_topic(partitions=2)
    prefix = kafka.name("cl")
    first = await changelog(kafka, prefix)
    part = f"{source}[1]"
    try:
        await first.write_async(Snapshot([change(part, 0, {"a": 1, "b": 2}, base=True)]))
        await first.write_async(Snapshot([change(part, 1, {"a": 5}, ["b"], positions={part: 41})]))
        await first.write_async(
            Snapshot([PartitionChanges("count:er", part, None, False, {part: 57}, [], 1)])
        )
    finally:
        await first.close_async()
    assert first.topic("count:er", source) == f"{prefix}.count_er.{source}"
    assert f"{prefix}.count_er.{source}" in await kafka.topics()

    second = await changelog(kafka, prefix)
    try:
        restored = await second.load_async("count:er", part)
        assert restored.values() == {"a": 5}
        assert restored.positions == {part: 57} and restored.seq == 1
        assert restored.needs_base  # the local backend gets it whole at the next checkpoint
        empty = await second.load_async("count:er", f"{source}[0]")
        assert empty.values() == {} and empty.seq == -1
        # deltas go on from the base it read
        await second.write_async(Snapshot([change(part, 2, {"c": 3})]))
    finally:
        await second.close_async()
    third = await changelog(kafka, prefix)
    try:
        assert (await third.load_async("count:er", part)).values() == {"a": 5, "c": 3}
    finally:
        await third.close_async()


async def test_a_local_backend_ahead_of_the_changelog_writes_it_whole(kafka: Any) -> None:
    source = await kafka.create_topic(partitions=1)
    prefix = kafka.name("cl")
    part = f"{source}[0]"
    local = MemoryBackend()
    backend = await changelog(kafka, prefix, local)
    try:
        await backend.write_async(Snapshot([change(part, 0, {"a": 1}, base=True)]))
        # chunk 1 reached the local backend only (the changelog write failed)
        local.write(Snapshot([change(part, 1, {"a": 2})]))
        restored = await backend.load_async("count:er", part)
        assert restored.values() == {"a": 2} and restored.seq == 1 and restored.needs_base
    finally:
        await backend.close_async()


async def test_a_delta_without_a_base_is_refused(kafka: Any) -> None:
    source = await kafka.create_topic(partitions=1)
    backend = await changelog(kafka, kafka.name("cl"))
    try:
        with pytest.raises(ChangelogError, match="a delta without a base"):
            await backend.write_async(Snapshot([change(f"{source}[0]", 3, {"a": 1})]))
    finally:
        await backend.close_async()


def test_a_changelog_needs_a_connection_that_can_keep_one() -> None:
    app = pump.Application()
    app.add_connection(pump.Connection(app, "plain"))
    pipeline = pump.Pipeline(app, "p", config={"state_changelog": "plain"})
    with pytest.raises(pump.BuildError, match=r"connection 'plain' .* cannot keep a state"):
        pipeline.state_backend()
