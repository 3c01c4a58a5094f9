"""KafkaSink: produces events in large record batches; a batch is done when the broker acked it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerClosed,
    UnknownError,
)
from aiokafka.partitioner import DefaultPartitioner
from pydantic import Field

import pump
from pump.waiting import wait_event
from pump_kafka.connection import KafkaConnection
from pump_kafka.errors import BrokerUnavailable, IdempotenceUnsupported, TopicMissing

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.message_accumulator import BatchBuilder

    from pump import Application, Pipeline

L = logging.getLogger(__name__)

#: Events built into record batches in one pass, across queued writes.
PASS_EVENTS = 50_000
#: The headers of a record without headers (the record builder only reads it).
NO_HEADERS: list[tuple[str, bytes]] = []
#: Keys whose partition is remembered (murmur2 in pure Python is slow), per sink.
KEY_CACHE = 65_536
#: Broker errors that reject a record batch for what it holds; permanent for a lone record.
REJECTED_RECORD = (MessageSizeTooLargeError, CorruptRecordException)


class KafkaSinkConfig(pump.ComponentConfig):
    """Settings of a KafkaSink."""

    topic: str = Field(
        "", description="Output topic ('': every event names its own in the context)"
    )
    topic_context_key: str = Field(
        "kafka_sink_topic",
        description="Context key that overrides the output topic of one event ('': none)",
    )
    key_context_key: str = Field(
        "kafka_key", description="Context key holding the record key (bytes or str; '': no keys)"
    )
    headers_context_key: str = Field(
        "kafka_headers",
        description="Context key holding the record headers ([(name, bytes)] or a dict; '': none)",
    )
    acks: Literal["all", 1] = Field(
        "all", description="'all' (every in-sync replica) or 1 (the leader only)"
    )
    enable_idempotence: bool = Field(
        True,
        description="No duplicates from producer retries (needs broker support; Tansu has none)",
    )
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "none", description="Record batch compression"
    )
    batch_bytes: int = Field(
        524288,
        gt=0,
        description=(
            "Size of one record batch per partition, bytes (broker limit: message.max.bytes)"
        ),
    )
    linger_ms: int = Field(0, ge=0, description="How long a record batch may wait for more records")
    check_topics: bool = Field(
        True,
        description=(
            "Refuse to write to topics that do not exist (else the broker may auto-create them)"
        ),
    )
    stop_timeout: float = Field(10.0, gt=0, description="Seconds stop() waits for unsent batches")


class _Write:
    """One `write()` call: its events, and the future the pipeline awaits."""

    __slots__ = ("contexts", "events", "failures", "future", "pending")

    def __init__(
        self, events: list[Any], contexts: Sequence[dict[str, Any]], future: asyncio.Future[None]
    ) -> None:
        self.events = events
        self.contexts = contexts
        self.future = future
        self.failures: dict[int, BaseException] = {}
        self.pending = 1  # released once every record batch holding its events was submitted

    def fail(self, indexes: list[int], exc: BaseException) -> None:
        for i in indexes:
            self.failures.setdefault(i, exc)

    def release(self) -> None:
        self.pending -= 1
        if self.pending or self.future.done():
            return
        failures = self.failures
        if not failures:
            self.future.set_result(None)
        elif len(failures) == len(self.events):
            self.future.set_exception(next(iter(failures.values())))
        else:
            self.future.set_exception(pump.PartialWriteError(failures))


class _OpenBatch:
    """A record batch being filled for one partition, and which events of which writes it holds."""

    __slots__ = ("append", "builder", "count", "owners", "partition", "topic")

    def __init__(self, builder: BatchBuilder, topic: str, partition: int) -> None:
        self.builder = builder
        self.topic = topic
        self.partition = partition
        self.owners: list[tuple[_Write, list[int]]] = []
        # aiokafka's BatchBuilder.append is a Python wrapper (keyword arguments, serializer
        # hooks) around the compiled record builder; appending to that directly halves the
        # cost per record. `count` then stands in for the wrapper's own record counter.
        raw = getattr(builder, "_builder", None)
        self.append = (
            raw.append if raw is not None and hasattr(builder, "_relative_offset") else None
        )
        self.count = 0

    def seal(self) -> _OpenBatch:
        """Finish the batch for sending (the wrapper learns how many records it holds)."""
        if self.append is not None:
            self.builder._relative_offset = self.count
        return self


class KafkaSink(pump.Sink):
    """Writes events to Kafka; each write is done when the broker acknowledged all its records.

    Events may be bytes, str (UTF-8) or anything orjson serializes (dicts, lists, ...). The
    output topic is `topic`, or per event `context["kafka_sink_topic"]`; the record key and
    headers come from `context["kafka_key"]` and `context["kafka_headers"]` — so a record read
    by KafkaSource keeps its key and headers unless a processor changes them. Writes are built
    into record batches of up to `batch_bytes` per partition, in order, by one task.

    An event that cannot be encoded (or names no topic), and a lone record the broker rejects
    as too large or corrupt, fail with `PermanentWriteError`: the pipeline's error policy gets
    them at once; everything else (broker down, a missing topic) is retried.
    """

    ConfigModel = KafkaSinkConfig
    Config: KafkaSinkConfig

    #: Producers started again after a fatal error.
    reconnects = pump.Counter("Times the link to the server was re-established after a loss")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: KafkaConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, KafkaConnection, where=self)
        self.producer: AIOKafkaProducer | None = None
        self._writes: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._feeder: asyncio.Task[None] | None = None
        self._known_topics: set[str] = set()
        self._sticky: dict[str, int] = {}
        self._key_partitions: dict[tuple[str, bytes], int] = {}
        self._partitioner = DefaultPartitioner()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.producer = await self._open_producer()
        topic = self.Config.topic
        if topic and self.Config.check_topics:
            try:
                await self._check_topic(self.producer, topic)
            except BaseException:
                await self._close_producer()
                raise
        self._feeder = asyncio.get_running_loop().create_task(self._feed())

    async def _open_producer(self) -> AIOKafkaProducer:
        cfg = self.Config
        producer = self.Connection.create_producer(
            acks=cfg.acks,
            enable_idempotence=cfg.enable_idempotence,
            compression_type=None if cfg.compression_type == "none" else cfg.compression_type,
            max_batch_size=cfg.batch_bytes,
            max_request_size=max(cfg.batch_bytes, 1048576),
            linger_ms=cfg.linger_ms,
        )
        try:
            await producer.start()
        except UnknownError as exc:
            await producer.stop()
            if cfg.enable_idempotence:
                raise IdempotenceUnsupported(
                    f"{self.location()}: the broker refused to give the producer an id ({exc!r}), "
                    "which enable_idempotence needs; set enable_idempotence: false for brokers "
                    "without idempotent producing (Tansu, for one)"
                ) from exc
            raise
        except KafkaError as exc:
            await producer.stop()
            raise BrokerUnavailable(
                f"{self.location()}: cannot start the producer on "
                f"{','.join(self.Connection.bootstrap_servers)}: {exc}"
            ) from exc
        return producer

    async def _close_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), self.Config.stop_timeout)
        except Exception as exc:
            L.warning(
                "%s: closing the producer failed: %s: %s", self.location(), type(exc).__name__, exc
            )

    async def stop(self) -> None:
        """Send what is queued (bounded by stop_timeout), then close the producer."""
        feeder, self._feeder = self._feeder, None
        if feeder is not None:
            await wait_event(self._idle, self.Config.stop_timeout)
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        stopped = ProducerClosed(f"{self.location()} stopped before the write was sent")
        while self._writes:
            write = self._writes.popleft()
            write.fail(list(range(len(write.events))), stopped)
            write.release()
        await self._close_producer()

    # -- writing ------------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Queue a batch; the returned future completes when the broker acked all of it."""
        if self._feeder is None:
            raise ProducerClosed(f"{self.location()} is not started")
        write = _Write(events, contexts, asyncio.get_running_loop().create_future())
        self._writes.append(write)
        self._idle.clear()
        self._wake.set()
        return write.future

    async def _feed(self) -> None:
        """Turn queued writes into record batches and submit them, in the order written."""
        while True:
            if not self._writes:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            writes = [self._writes.popleft()]
            size = len(writes[0].events)
            while self._writes and size < PASS_EVENTS:
                size += len(self._writes[0].events)
                writes.append(self._writes.popleft())
            try:
                await self._send(writes)
            except Exception as exc:  # not expected: _send fails events, not itself
                L.exception("%s: sending failed", self.location())
                for write in writes:
                    write.fail(list(range(len(write.events))), exc)
            finally:
                for write in writes:
                    write.release()

    async def _send(self, writes: list[_Write]) -> None:
        producer = await self._usable_producer()
        if producer is None:
            error = BrokerUnavailable(f"{self.location()}: no producer (the broker is unreachable)")
            for write in writes:
                write.fail(list(range(len(write.events))), error)
            return
        batches = await self._build(producer, writes)
        for batch in batches:
            for write, _ in batch.owners:
                write.pending += 1
            try:
                delivered = await producer.send_batch(
                    batch.builder, batch.topic, partition=batch.partition
                )
            except Exception as exc:
                self._delivered(batch, exc)
                continue
            delivered.add_done_callback(lambda f, batch=batch: self._delivered(batch, f))

    def _delivered(self, batch: _OpenBatch, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            exc: BaseException | None = outcome
        elif outcome.cancelled():
            exc = asyncio.CancelledError("the record batch was cancelled")
        else:
            exc = outcome.exception()
        if isinstance(exc, REJECTED_RECORD) and (batch.count or batch.builder.record_count()) == 1:
            # the broker refuses this one record (too large, invalid): it never will take it
            exc = pump.PermanentWriteError.wrap(self.location(), exc)
        for write, indexes in batch.owners:
            if exc is not None:
                write.fail(indexes, exc)
            write.release()

    async def _build(self, producer: AIOKafkaProducer, writes: list[_Write]) -> list[_OpenBatch]:
        """Record batches holding the writes' events, in order; failed events are marked.

        The hot loop of the sink: per event three context lookups, the value's encoding and
        one append to the current partition's batch.
        """
        cfg = self.Config
        default_topic = cfg.topic
        tkey, kkey, hkey = cfg.topic_context_key, cfg.key_context_key, cfg.headers_context_key
        cluster = producer.client.cluster
        create_batch = producer.create_batch
        key_partition = self._key_partition
        dumps = orjson.dumps
        sticky = self._sticky
        sealed: list[_OpenBatch] = []
        open_batches: dict[tuple[str, int], _OpenBatch] = {}
        topic_partitions: dict[str, list[int] | BaseException] = {}
        for write in writes:
            events, contexts, failures = write.events, write.contexts, write.failures
            for name in sticky:
                sticky[name] += 1  # each write starts on the next partition: spreads small writes
            topic = current_topic = None
            parts: list[int] | BaseException = []
            n_parts = sticky_at = 0
            batch: _OpenBatch | None = None
            batch_topic: str | None = None
            batch_partition = -1
            indexes: list[int] = []
            append: Any = None
            count = 0
            now = int(time.time() * 1000)  # one timestamp per write, as a producer would stamp it
            for i, event in enumerate(events):
                context = contexts[i]
                topic = (context.get(tkey) if tkey else None) or default_topic
                if topic != current_topic:
                    if current_topic is not None:
                        sticky[current_topic] = sticky_at
                    current_topic = topic
                    found = topic_partitions.get(topic)
                    if found is None:
                        found = topic_partitions[topic] = await self._partitions(
                            producer, cluster, topic
                        )
                    parts = found
                    if isinstance(parts, list):
                        n_parts = len(parts)
                        sticky_at = sticky.setdefault(topic, 0)
                if not n_parts or not isinstance(parts, list):
                    failures.setdefault(
                        i, parts if isinstance(parts, BaseException) else TopicMissing(topic)
                    )
                    continue
                key = context.get(kkey) if kkey else None
                headers = context.get(hkey) if hkey else None
                try:
                    if type(event) is bytes:
                        value = event
                    elif type(event) is str:
                        value = event.encode()
                    elif event is None:
                        value = None
                    elif isinstance(event, (bytearray, memoryview)):
                        value = bytes(event)
                    else:
                        value = dumps(event)
                    if key is None:
                        partition = parts[sticky_at % n_parts]
                    else:
                        if type(key) is not bytes:
                            key = key.encode() if type(key) is str else bytes(key)
                        partition = key_partition(topic, key, parts)
                    if not headers:
                        headers = NO_HEADERS
                    elif type(headers) is tuple and all(type(h[1]) is bytes for h in headers):
                        headers = list(headers)  # as KafkaSource gives them: (name, bytes) pairs
                    else:
                        headers = _headers(headers)
                    while True:
                        if batch is None or partition != batch_partition or topic != batch_topic:
                            if batch is not None:
                                batch.count = count
                            batch = open_batches.get((topic, partition))
                            if batch is None:
                                batch = open_batches[topic, partition] = _OpenBatch(
                                    create_batch(), topic, partition
                                )
                            batch_topic, batch_partition = topic, partition
                            owners = batch.owners
                            if owners and owners[-1][0] is write:
                                indexes = owners[-1][1]
                            else:
                                indexes = []
                                owners.append((write, indexes))
                            append, count = batch.append, batch.count
                        if append is not None:
                            if append(count, now, key, value, headers) is not None:
                                count += 1
                                break
                        elif (
                            batch.builder.append(
                                timestamp=now, key=key, value=value, headers=headers
                            )
                            is not None
                        ):
                            break
                        # Full (a fresh batch always takes its first record): seal it; keyless
                        # events move on to the next partition (Kafka's sticky partitioning).
                        batch.count = count
                        sealed.append(batch)
                        del open_batches[topic, partition]
                        batch = None
                        if key is None:
                            sticky_at += 1
                            partition = parts[sticky_at % n_parts]
                except Exception as exc:  # it cannot be encoded: it never will be
                    failures.setdefault(i, pump.PermanentWriteError.wrap(self.location(), exc))
                    continue
                indexes.append(i)
            if batch is not None:
                batch.count = count
            if current_topic is not None:
                sticky[current_topic] = sticky_at
        sealed.extend(b for b in open_batches.values() if b.count or b.builder.record_count())
        return [batch.seal() for batch in sealed]

    async def _partitions(
        self, producer: AIOKafkaProducer, cluster: Any, topic: str
    ) -> list[int] | BaseException:
        """The topic's partitions, or the error that makes writing to it impossible."""
        if not topic:  # the event's context decides, and it does not change on a retry
            return pump.PermanentWriteError.wrap(
                self.location(),
                TopicMissing(
                    f"{self.location()}: the event names no output topic: set `topic`, or "
                    f"context[{self.Config.topic_context_key!r}] in a processor "
                    "(writes_context = True)"
                ),
            )
        try:
            if self.Config.check_topics and topic not in self._known_topics:
                await self._check_topic(producer, topic)
            parts = cluster.partitions_for_topic(topic)
            if not parts:
                parts = await producer.partitions_for(topic)
            available = cluster.available_partitions_for_topic(topic)
            return sorted(available or parts)
        except Exception as exc:
            return exc

    async def _check_topic(self, producer: AIOKafkaProducer, topic: str) -> None:
        metadata = await producer.client.fetch_all_metadata()
        if topic not in metadata.topics():
            raise TopicMissing(
                f"{self.location()}: topic {topic!r} does not exist on "
                f"{','.join(self.Connection.bootstrap_servers)}; create it, or add a "
                "kafka.topic_initializer (or set check_topics: false to let the broker decide)"
            )
        self._known_topics.add(topic)

    def _key_partition(self, topic: str, key: bytes, parts: list[int]) -> int:
        cache = self._key_partitions
        partition = cache.get((topic, key))
        if partition is None or partition not in parts:
            if len(cache) >= KEY_CACHE:
                cache.clear()
            partition = cache[topic, key] = self._partitioner(key, parts, parts)
        return partition

    async def _usable_producer(self) -> AIOKafkaProducer | None:
        """The producer, replaced first if a fatal error left it unable to send."""
        producer = self.producer
        if producer is not None and not _broken(producer):
            return producer
        if producer is not None:
            L.warning("%s: the producer failed for good; starting a new one", self.location())
            await self._close_producer()
        try:
            self.producer = await self._open_producer()
        except Exception as exc:
            L.warning("%s: cannot start a producer: %s", self.location(), exc)
            return None
        self.reconnects += 1
        return self.producer


def _broken(producer: AIOKafkaProducer) -> bool:
    """True when the producer cannot send any more (its sender died or a fatal error hit it)."""
    sender_task = getattr(producer._sender, "sender_task", None)
    if sender_task is not None and sender_task.done():
        return True
    return getattr(producer._message_accumulator, "_exception", None) is not None


def _headers(headers: Any) -> list[tuple[str, bytes]] | Any:
    """Record headers from a dict or pairs; values become bytes (str as UTF-8)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:
        if type(value) is not bytes:
            value = value.encode() if isinstance(value, str) else bytes(value)
        out.append((name, value))
    return out
