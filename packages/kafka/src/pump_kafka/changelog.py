"""KafkaChangelog: stateful processors' checkpoints also written to changelog topics, so that a
partition's state follows the partition to whichever process is assigned it (docs/state.md §5).

Each checkpoint writes its chunks (pump.state.backend) to the local backend first, then one
record per changed partition to the changelog: topic `<prefix>.<processor>.<source topic>`,
the partition of the same number as the source partition. A record holds the chunk (a base:
the whole partition, or a delta) and, in headers, its number, the stream positions it advanced
and the offset of the base it builds on. Restoring a partition reads the changelog's last
record, seeks to its base and applies the records from there, unless the local backend holds
the same chunk number or a later one. The checkpoint is durable once the broker acknowledged
every record (acks=all).

The changelog is never compacted (a delta depends on the records before it): records older than
the last base are garbage, deleted with DeleteRecords where the broker supports it. Create the
topics yourself to choose their replication; otherwise they are created with the source topic's
partition count and replication factor 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic, RecordsToDelete
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from pump.state.backend import PartitionChanges, Restored, Snapshot, StateBackend

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    from pump_kafka.connection import KafkaConnection

L = logging.getLogger(__name__)

#: `topic[3]`: a state partition that is a Kafka topic-partition (KafkaSource names them so).
_PARTITION = re.compile(r"^(?P<topic>.+)\[(?P<partition>\d+)\]$")
#: Characters a topic name may not have (in a processor id) become this.
_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]")

#: Header values of the record kinds.
BASE, DELTA, POSITIONS = b"base", b"delta", b"positions"


class ChangelogError(Exception):
    """The changelog cannot be read or written."""


def kafka_partition(partition: str) -> tuple[str, int] | None:
    """(`topic`, number) of a state partition named `topic[number]`, else None."""
    match = _PARTITION.match(partition)
    return (match["topic"], int(match["partition"])) if match else None


class KafkaChangelog(StateBackend):
    """A local backend (SQLite, memory) plus changelog topics on a Kafka cluster."""

    def __init__(
        self,
        local: StateBackend,
        connection: KafkaConnection,
        prefix: str,
        *,
        replication_factor: int = 1,
        read_timeout: float = 30.0,
    ) -> None:
        self.local = local
        self.connection = connection
        self.prefix = prefix
        self.replication_factor = replication_factor
        self.read_timeout = read_timeout
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._topics: set[str] = set()
        #: Changelog topic-partition → the offset of its last base record.
        self._bases: dict[TopicPartition, int] = {}
        self._cleanup: asyncio.Task[None] | None = None
        self._delete_records = True  # until the broker says it cannot

    def topic(self, processor: str, source_topic: str) -> str:
        """The changelog topic of a processor's state of partitions of `source_topic`."""
        return f"{self.prefix}.{_UNSAFE.sub('_', processor)}.{source_topic}"

    # -- the synchronous interface: the local backend alone --------------------------------------

    def open(self, pipeline_id: str) -> None:
        """Open the local backend (the changelog is opened by `open_async`)."""
        self.local.open(pipeline_id)

    def load(self, processor: str, partition: str) -> Restored:
        """What the local backend holds (partitions restored ahead use the changelog)."""
        return self.local.load(processor, partition)

    def write(self, snapshot: Snapshot) -> None:
        """Local only: the pipeline writes through `write_async`."""
        self.local.write(snapshot)

    def close(self) -> None:
        """Close the local backend."""
        self.local.close()

    def describe(self) -> str:
        return f"{self.local.describe()} + changelog topics {self.prefix}.*"

    # -- the pipeline's interface ---------------------------------------------------------------

    async def open_async(self, pipeline_id: str) -> None:
        """Open the local backend, the producer and the admin client."""
        await self.local.open_async(pipeline_id)
        producer = self.connection.create_producer(acks="all", linger_ms=5)
        admin = self.connection.create_admin()
        try:
            await producer.start()
            await admin.start()
        except KafkaError as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            with contextlib.suppress(Exception):
                await admin.close()
            raise ChangelogError(f"cannot reach Kafka for the state changelog: {exc}") from exc
        self._producer, self._admin = producer, admin

    async def close_async(self) -> None:
        """Stop the clients, close the local backend."""
        if self._cleanup is not None:
            self._cleanup.cancel()
            with contextlib.suppress(BaseException):
                await self._cleanup
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        await self.local.close_async()

    async def load_async(self, processor: str, partition: str) -> Restored:
        """The local state, or the changelog's where that is further on."""
        local = await self.local.load_async(processor, partition)
        where = kafka_partition(partition)
        if where is None:
            return local
        topic = self.topic(processor, where[0])
        if not await self._topic_exists(topic):
            local.needs_base = bool(local.chunks)  # start the changelog with the whole state
            return local
        tp = TopicPartition(topic, where[1])
        logged = await self._read(tp, partition)
        if logged is None:  # nothing logged yet
            local.needs_base = bool(local.chunks)
            return local
        if local.seq == logged.seq:
            return local  # the same chunk in both: go on writing deltas to the changelog
        if local.seq > logged.seq:
            # written locally but not to the changelog (its write failed): log it whole
            local.needs_base = True
            return local
        L.info(
            "changelog %s[%d]: restored partition '%s' (chunk %d; this process had %d)",
            tp.topic,
            tp.partition,
            partition,
            logged.seq,
            local.seq,
        )
        logged.needs_base = True  # the local backend gets it whole with the next checkpoint
        return logged

    async def write_async(self, snapshot: Snapshot) -> None:
        """Write locally, then log every change; durable once the broker acknowledged all."""
        await self.local.write_async(snapshot)
        producer = self._producing()
        sent: list[tuple[PartitionChanges, TopicPartition, asyncio.Future[Any]]] = []
        for change in snapshot.changes:
            where = kafka_partition(change.partition)
            if where is None:
                continue
            topic = self.topic(change.processor, where[0])
            await self._ensure_topic(topic, where[0])
            tp = TopicPartition(topic, where[1])
            if change.data is not None and not change.base and tp not in self._bases:
                raise ChangelogError(
                    f"changelog {topic}[{where[1]}]: a delta without a base (partition "
                    f"'{change.partition}' was not restored through the changelog)"
                )
            kind = POSITIONS if change.data is None else BASE if change.base else DELTA
            headers = [
                ("kind", kind),
                ("seq", str(change.seq).encode()),
                ("base", str(self._bases.get(tp, -1)).encode()),
                ("positions", orjson.dumps(change.positions)),
                ("forget", orjson.dumps(change.forget_streams)),
            ]
            future = await producer.send(
                topic,
                change.data or b"",
                key=change.partition.encode(),
                partition=where[1],
                headers=headers,
            )
            sent.append((change, tp, future))
        try:
            results = await asyncio.gather(*(future for _, _, future in sent))
        except KafkaError as exc:
            raise ChangelogError(f"writing the state changelog failed: {exc}") from exc
        bases = {}
        for (change, tp, _), metadata in zip(sent, results, strict=True):
            if change.base:
                self._bases[tp] = bases[tp] = metadata.offset
        if bases and self._delete_records and (self._cleanup is None or self._cleanup.done()):
            self._cleanup = asyncio.ensure_future(self._forget_before(bases))

    # -- reading --------------------------------------------------------------------------------

    async def _read(self, tp: TopicPartition, partition: str) -> Restored | None:
        """The changelog of one partition from its last base, or None when it is empty."""
        consumer = self.connection.create_consumer(
            enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            if end <= begin:
                return None
            consumer.seek(tp, end - 1)
            [last] = await self._records(consumer, tp, end - 1, end)
            headers = dict(last.headers)
            base = last.offset if headers.get("kind") == BASE else int(headers["base"])
            if base < begin:
                raise ChangelogError(
                    f"changelog {tp.topic}[{tp.partition}]: the base record at offset {base} "
                    f"is gone (the log starts at {begin}; retention deleted it?)"
                )
            if base < 0:  # positions only, never a chunk
                base = begin
            consumer.seek(tp, base)
            restored = Restored()
            for record in await self._records(consumer, tp, base, end):
                if record.key != partition.encode():
                    continue
                found = dict(record.headers)
                kind = found.get("kind")
                if kind in (BASE, DELTA):
                    if kind == BASE:
                        restored.chunks = []
                    restored.chunks.append(record.value)
                    restored.seq = int(found["seq"])
                restored.positions.update(orjson.loads(found.get("positions", b"{}")))
                for stream in orjson.loads(found.get("forget", b"[]")):
                    restored.positions.pop(stream, None)
            self._bases[tp] = base
            return restored
        except KafkaError as exc:
            raise ChangelogError(
                f"reading changelog {tp.topic}[{tp.partition}] failed: {exc}"
            ) from exc
        finally:
            await consumer.stop()

    async def _records(self, consumer: Any, tp: TopicPartition, first: int, end: int) -> list[Any]:
        """Records `first` .. `end - 1` of `tp` (the consumer is positioned at `first`)."""
        out: list[Any] = []
        deadline = asyncio.get_running_loop().time() + self.read_timeout
        while not out or out[-1].offset < end - 1:
            if asyncio.get_running_loop().time() > deadline:
                raise ChangelogError(
                    f"changelog {tp.topic}[{tp.partition}]: records {first}..{end - 1} not read "
                    f"within {self.read_timeout}s"
                )
            fetched = await consumer.getmany(tp, timeout_ms=500)
            out += [r for r in fetched.get(tp, []) if first <= r.offset < end]
        return out

    # -- topics ---------------------------------------------------------------------------------

    def _producing(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise ChangelogError("the state changelog is not open")
        return self._producer

    async def _topic_exists(self, topic: str) -> bool:
        if topic in self._topics:
            return True
        if topic in await self.connection.list_topics():
            self._topics.add(topic)
            return True
        return False

    async def _ensure_topic(self, topic: str, source_topic: str) -> None:
        """Create the changelog topic (the source topic's partition count) if it is missing."""
        if await self._topic_exists(topic):
            return
        partitions = await self._producing().partitions_for(source_topic)
        if not partitions:
            raise ChangelogError(f"cannot tell how many partitions topic {source_topic} has")
        admin = self._admin
        assert admin is not None
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        topic,
                        len(partitions),
                        self.replication_factor,
                        topic_configs={"cleanup.policy": "delete", "retention.ms": "-1"},
                    )
                ]
            )
            L.info("state changelog topic %s created (%d partitions)", topic, len(partitions))
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise ChangelogError(f"cannot create changelog topic {topic}: {exc}") from exc
        self._topics.add(topic)

    async def _forget_before(self, bases: dict[TopicPartition, int]) -> None:
        """Delete the records older than each new base (best effort: not every broker can)."""
        admin = self._admin
        if admin is None:
            return
        try:
            await admin.delete_records(
                {tp: RecordsToDelete(offset) for tp, offset in bases.items()}
            )
        except Exception as exc:
            self._delete_records = False
            L.info(
                "state changelog: the broker does not delete old records (%s: %s); the "
                "changelog topics grow until their retention removes what is before a base",
                type(exc).__name__,
                exc,
            )
