"""KafkaSource: consumes topics in a consumer group and commits only what the pipeline finished."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError, KafkaError
from pydantic import Field, model_validator

import pump
from pump.state import StreamPosition
from pump.waiting import wait_event
from pump_kafka.connection import KafkaConnection
from pump_kafka.errors import BrokerUnavailable, TopicMissing

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import ConsumerRecord

    from pump import Application, Batch, Pipeline

L = logging.getLogger(__name__)

#: Seconds between two log lines about the same recurring problem.
REPORT_EVERY = 10.0


class KafkaSourceConfig(pump.ComponentConfig):
    """Settings of a KafkaSource."""

    topic: str | list[str] = Field(
        "",
        description="Topic(s) to consume: a name, 'a,b,c' or a list (or use topic_pattern)",
        examples=["events", "clicks,views", ["clicks", "views"]],
    )
    topic_pattern: str = Field(
        "", description="Regular expression of topics to consume instead of `topic`"
    )
    group_id: str = Field(
        ...,
        min_length=1,
        description="Consumer group; commits are kept per group",
        examples=["enrich"],
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a group without a committed offset starts"
    )
    max_batch: int = Field(
        5000, gt=0, description="Most records of one partition per pipeline batch"
    )
    fetch_max_wait_ms: int = Field(
        500, ge=0, description="How long the broker may hold a fetch waiting for data"
    )
    fetch_max_bytes: int = Field(52428800, gt=0, description="Most bytes one fetch returns")
    max_partition_fetch_bytes: int = Field(
        1048576, gt=0, description="Most bytes one fetch returns per partition"
    )
    commit_interval: float = Field(
        0.5, gt=0, description="Seconds between two commits of the done positions"
    )
    session_timeout_ms: int = Field(
        10000, gt=0, description="The group drops a member silent this long"
    )
    heartbeat_interval_ms: int = Field(
        3000, gt=0, description="Heartbeat period (below a third of the session timeout)"
    )
    rebalance_timeout_ms: int = Field(
        0, ge=0, description="How long a rebalance waits for members (0: the session timeout)"
    )
    max_poll_interval_ms: int = Field(
        300000, gt=0, description="A member that fetches nothing this long leaves the group"
    )
    revoke_timeout: float = Field(
        5.0,
        ge=0,
        description=(
            "Seconds a rebalance waits for in-flight events of revoked partitions before committing"
        ),
    )
    pause_after: float = Field(
        0.2, ge=0, description="Seconds of backpressure after which fetching is paused"
    )
    retry_backoff: float | None = Field(
        None,
        gt=0,
        description="Deprecated: set reconnect_delay on the connection. When set, the first "
        "pause after a failed fetch or commit of this source, seconds",
    )
    silence_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds without any fetch answer before the broker is reported unreachable",
    )
    isolation_level: Literal["read_uncommitted", "read_committed"] = Field(
        "read_uncommitted", description="read_committed skips records of aborted transactions"
    )
    check_topics: bool = Field(
        True, description="Fail at start when a configured topic does not exist"
    )

    @model_validator(mode="after")
    def _one_subscription(self) -> KafkaSourceConfig:
        if bool(topic_list(self.topic)) == bool(self.topic_pattern):
            raise ValueError("set exactly one of topic and topic_pattern")
        return self


def topic_list(value: str | list[str]) -> list[str]:
    """Topic names from 'a,b' or a list."""
    items = value.split(",") if isinstance(value, str) else value
    return [t.strip() for t in items if t.strip()]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Relays the group's rebalance callbacks to the source."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # nothing is handed over until the next assignment's state is restored
        self.source.state_ready.clear()
        await self.source.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.source.state_ready.clear()
        try:
            await self.source.partitions_assigned(set(assigned))
        finally:
            self.source.state_ready.set()


class KafkaSource(pump.Source):
    """Reads topics as a member of a consumer group; never auto-commits.

    Each fetch of a partition becomes one pipeline batch whose events are the record values
    (bytes) and whose contexts carry `kafka_topic`, `kafka_partition`, `kafka_offset`,
    `kafka_key`, `kafka_headers` and `kafka_timestamp`. When a batch is done the source
    advances the partition's commit position over the done prefix (never past a batch still in
    flight or rejected) and commits it every `commit_interval`, on rebalance and on stop.
    """

    ConfigModel = KafkaSourceConfig
    Config: KafkaSourceConfig

    commits = pump.Counter("Offset commits sent to the broker")
    connected = pump.Gauge("1 while connected to the server, else 0")
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
        self.topics = topic_list(self.Config.topic)
        self.consumer: AIOKafkaConsumer | None = None
        self.tracker = pump.CommitTracker()
        self._open: dict[TopicPartition, dict[int, list[Any]]] = {}
        self._pending: dict[TopicPartition, int] = {}
        self._commit_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._progress = asyncio.Event()
        self._settling = False
        self._revoked: set[TopicPartition] = set()
        # for `backlog`: the assigned partitions by state name; those with records fetched and
        # not handed over yet; the offset each has been read up to
        self._assigned: dict[str, TopicPartition] = {}
        self._unhanded: set[TopicPartition] = set()
        self._read_upto: dict[TopicPartition, int] = {}
        self._reports: dict[str, pump.RateLimitedLog] = {}
        self._tasks = pump.TaskGroup(self.location())
        #: Set while the state of the assigned partitions is restored (see _Rebalance).
        self.state_ready = asyncio.Event()
        self.state_ready.set()

        if self.Config.retry_backoff is not None:
            L.warning(
                "%s: retry_backoff is deprecated; set reconnect_delay on the connection",
                self.location(),
            )

    def _backoff(self) -> pump.Backoff:
        backoff = self.Connection.Config.backoff()
        first = self.Config.retry_backoff  # deprecated, but still wins for this source
        return backoff if first is None else pump.Backoff(first, max(first, backoff.maximum))

    # -- consuming ----------------------------------------------------------------------------

    async def main(self) -> None:
        consumer = await self._open_consumer()
        self.connected = 1
        self._tasks.spawn(self._commit_periodically())
        self._tasks.spawn(self._watch(consumer))
        try:
            await self._consume(consumer)
        finally:
            await self._tasks.cancel()

    async def _open_consumer(self) -> AIOKafkaConsumer:
        cfg = self.Config
        consumer = self.Connection.create_consumer(
            group_id=cfg.group_id,
            enable_auto_commit=False,
            auto_offset_reset=cfg.auto_offset_reset,
            fetch_max_wait_ms=cfg.fetch_max_wait_ms,
            fetch_max_bytes=cfg.fetch_max_bytes,
            max_partition_fetch_bytes=cfg.max_partition_fetch_bytes,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            rebalance_timeout_ms=cfg.rebalance_timeout_ms or None,
            max_poll_interval_ms=cfg.max_poll_interval_ms,
            isolation_level=cfg.isolation_level,
        )
        self.consumer = consumer
        try:
            await consumer.start()
        except KafkaError as exc:
            raise BrokerUnavailable(
                f"{self.location()}: cannot start the consumer on "
                f"{','.join(self.Connection.bootstrap_servers)}: {exc}"
            ) from exc
        listener = _Rebalance(self)
        if self.topics:
            if cfg.check_topics:
                existing = await consumer.topics()
                missing = [t for t in self.topics if t not in existing]
                if missing:
                    raise TopicMissing(
                        f"{self.location()}: topic(s) {', '.join(missing)} do not exist on "
                        f"{','.join(self.Connection.bootstrap_servers)}; create them, or add a "
                        "kafka.topic_initializer to the pipeline (or set check_topics: false "
                        "to wait for them)"
                    )
            consumer.subscribe(topics=self.topics, listener=listener)
        else:
            consumer.subscribe(pattern=cfg.topic_pattern, listener=listener)
        return consumer

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        pipeline = self.Pipeline
        max_batch = self.Config.max_batch
        backoff = self._backoff()
        while True:
            if not pipeline.is_ready():
                await self._wait_ready(consumer)
            try:
                # Everything prefetched, every partition: aiokafka sends no new fetch to a broker
                # while records of one of its partitions wait unread, so draining all of them
                # keeps the next fetch going while the pipeline works on this one.
                fetched = await consumer.getmany(timeout_ms=1000)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                self._report("fetch", exc)
                await backoff.wait()
                continue
            if backoff.attempt:
                backoff.reset()
            if not fetched:
                continue
            self._unhanded = set(fetched)
            # Where each partition stands now: records handed over later must still match it.
            positions = {tp: await consumer.position(tp) for tp in fetched}
            for tp, records in fetched.items():
                for start in range(0, len(records), max_batch):
                    if not pipeline.is_ready():
                        await self._wait_ready(consumer)
                    if not self.state_ready.is_set():  # a rebalance restores state now
                        await self.state_ready.wait()
                    if not await self._still_current(consumer, tp, positions[tp]):
                        # A rebalance reset the partition to its committed offset meanwhile:
                        # these records come again from there, so handing them over now would
                        # only duplicate them (or commit past records that were never done).
                        break
                    self._hand_over(tp, records[start : start + max_batch])
                self._unhanded.discard(tp)

    async def _still_current(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int
    ) -> bool:
        if tp in self._revoked or tp not in consumer.assignment():
            return False
        try:
            return bool(await consumer.position(tp) == position)
        except IllegalStateError:
            return False

    def stream_position(
        self, batch: Batch, contexts: Sequence[dict[str, Any]]
    ) -> StreamPosition | None:
        """The batch's topic-partition (state partition and stream) and offsets."""
        tp = batch.token[0]
        name = partition_name(tp)
        first = contexts[0].get("kafka_offset")
        last = contexts[-1].get("kafka_offset")
        if first is None or last is None:  # a generator's children: the batch's last offset
            first = last = batch.token[1]
        return StreamPosition(name, name, first, last, "kafka_offset")

    def _hand_over(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        topic, partition = tp.topic, tp.partition
        events = [r.value for r in records]
        contexts = [
            {
                "kafka_topic": topic,
                "kafka_partition": partition,
                "kafka_offset": r.offset,
                "kafka_key": r.key,
                "kafka_headers": r.headers,
                "kafka_timestamp": r.timestamp,
            }
            for r in records
        ]
        self._read_upto[tp] = records[-1].offset + 1
        handle = self.tracker.begin(tp, records[0].offset, records[-1].offset)
        opened = self._open.get(tp)
        if opened is None:
            opened = self._open[tp] = {}
        opened[id(handle)] = handle
        # The pipeline is ready (checked just before, nothing awaited since): this hands over at
        # once, and may acknowledge synchronously, which is why the range was begun first.
        self.Pipeline.process_batch(events, contexts=contexts, source=self, token=handle)

    async def _wait_ready(self, consumer: AIOKafkaConsumer) -> None:
        """Wait for the pipeline; past `pause_after`, pause the partitions instead of fetching.

        aiokafka prefetches at most one fetch per partition, so a short wait buffers little;
        a longer one pauses every assigned partition and keeps polling (which returns nothing
        for paused partitions) so the group still sees this member alive.
        """
        ready = asyncio.ensure_future(self.Pipeline.ready())
        try:
            await asyncio.wait({ready}, timeout=self.Config.pause_after)
            if ready.done():
                return
            while not ready.done():
                assigned = consumer.assignment()
                if assigned:
                    consumer.pause(*assigned)
                try:
                    unexpected = await consumer.getmany(timeout_ms=0)
                except KafkaError as exc:
                    self._report("fetch", exc)
                    unexpected = {}
                for tp, records in unexpected.items():
                    # Partitions assigned during the pause are not paused yet; un-read what
                    # they returned so it is fetched again once the pipeline takes more.
                    if records and tp in consumer.assignment():
                        consumer.seek(tp, records[0].offset)
                await asyncio.wait({ready}, timeout=1.0)
        finally:
            if not ready.done():
                ready.cancel()
            paused = consumer.paused()
            if paused:
                consumer.resume(*paused)

    async def _watch(self, consumer: AIOKafkaConsumer) -> None:
        """Report a broker that stopped answering; reset partitions whose log lost records.

        aiokafka retries a lost broker on its own and raises nothing: without this the source
        would wait silently. Waiting is right (the broker may come back), silence is not.
        """
        silence = self.Config.silence_timeout
        while True:
            await asyncio.sleep(min(1.0, silence / 2))
            if not self.Pipeline.is_ready():
                continue  # backpressure: partitions are paused or their fetches wait for us
            fetching = consumer.assignment() - consumer.paused() - self._revoked
            if not fetching:
                continue
            stamps = [consumer.last_poll_timestamp(tp) for tp in fetching]
            newest = max((s for s in stamps if s is not None), default=None)
            if newest is not None and time.time() - newest / 1000 > silence:
                self.connected = 0
                self._report(
                    "fetch",
                    BrokerUnavailable(
                        f"no fetch answered for {time.time() - newest / 1000:.0f}s "
                        f"({','.join(self.Connection.bootstrap_servers)} unreachable?); "
                        "waiting for the broker"
                    ),
                )
            elif newest is not None and not self.connected:
                self.connected = 1
                self.reconnects += 1
                L.warning("%s: the broker answers again", self.location())
            for tp in fetching:
                await self._reset_if_truncated(consumer, tp)

    async def _reset_if_truncated(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """A log end behind our position means the broker lost records (or the topic was remade).

        Kafka answers such a fetch with OFFSET_OUT_OF_RANGE and the consumer resets as
        auto_offset_reset says; some brokers (Tansu after a restart) just return nothing.
        """
        highwater = consumer.highwater(tp)
        if highwater is None or tp not in consumer.assignment():
            return
        try:
            position = await asyncio.wait_for(consumer.position(tp), 1.0)
        except (TimeoutError, IllegalStateError):
            return
        if tp not in self._unhanded:  # read up to there, all handed over
            self._read_upto[tp] = max(position, self._read_upto.get(tp, 0))
        if position <= highwater:
            return
        L.warning(
            "%s: %s[%d] ends at %d, before this source's position %d: the broker lost records or "
            "the topic was re-created; resetting to the %s offset",
            self.location(),
            tp.topic,
            tp.partition,
            highwater,
            position,
            self.Config.auto_offset_reset,
        )
        self.tracker.forget(tp)
        self._open.pop(tp, None)
        self._pending.pop(tp, None)
        self._read_upto.pop(tp, None)
        if self.Config.auto_offset_reset == "earliest":
            await consumer.seek_to_beginning(tp)
        else:
            await consumer.seek_to_end(tp)

    # -- acknowledgement and commits ----------------------------------------------------------

    def acknowledge(self, batch: Batch) -> None:
        handle = batch.token
        self.tracker.end(handle)
        self._closed(handle)
        self._dirty.set()

    def reject(self, batch: Batch) -> None:
        # The range stays open in the tracker: nothing at or after it is ever committed, and
        # the broker delivers it again after a restart or to the partition's next owner.
        self._closed(batch.token)

    def _closed(self, handle: list[Any]) -> None:
        opened = self._open.get(handle[0])
        if opened is not None:
            opened.pop(id(handle), None)
            if self._settling:
                self._progress.set()

    async def _commit_periodically(self) -> None:
        interval = self.Config.commit_interval
        backoff = self._backoff()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.commit()
            except Exception as exc:
                self._report("commit", exc)
                self._dirty.set()  # try again
                await backoff.wait()
            else:
                backoff.reset()
            await asyncio.sleep(interval)

    async def commit(
        self, partitions: set[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        """Commit the done positions (of `partitions`, or of every assigned one); returns them."""
        consumer = self.consumer
        if consumer is None:
            return {}
        async with self._commit_lock:
            self._pending.update(self.tracker.committable())
            assigned = consumer.assignment()
            offsets = {}
            for tp, position in list(self._pending.items()):
                if tp not in assigned:
                    del self._pending[tp]  # not ours any more: its next owner redoes the rest
                elif partitions is None or tp in partitions:
                    offsets[tp] = position
            if not offsets:
                return {}
            await consumer.commit(offsets)
            self.commits += 1
            for tp, position in offsets.items():
                if self._pending.get(tp) == position:
                    del self._pending[tp]
            return offsets

    # -- rebalancing --------------------------------------------------------------------------

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before a rebalance: let revoked partitions' in-flight events finish, commit, forget."""
        if not revoked:
            return
        # Hand over nothing more of them: their next owner (maybe this source again) starts
        # from the offsets committed here, so records fetched before are fetched again.
        self._revoked |= revoked
        # Their events are acknowledged once the state they reached is checkpointed: do that
        # first, then their state leaves this process (its next owner restores it).
        await self.Pipeline.revoke_partitions(
            [partition_name(tp) for tp in revoked], self.Config.revoke_timeout
        )
        await self._settle(revoked, self.Config.revoke_timeout)
        try:
            await self.commit(revoked)
        except Exception as exc:
            self._report(
                "commit",
                exc,
                "of revoked partitions; their next owner redoes the uncommitted events",
            )
        for tp in revoked:
            self.tracker.forget(tp)
            self._open.pop(tp, None)
            self._pending.pop(tp, None)
            self._assigned.pop(partition_name(tp), None)
            self._read_upto.pop(tp, None)
        L.info("%s: partitions revoked: %s", self.location(), _names(revoked))

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """After a rebalance: assigned partitions start afresh from their committed offsets."""
        self._revoked.clear()
        for tp in assigned:
            self.tracker.forget(tp)
            self._open.pop(tp, None)
            self._pending.pop(tp, None)
            self._read_upto.pop(tp, None)
            self._assigned[partition_name(tp)] = tp
        L.info("%s: partitions assigned: %s", self.location(), _names(assigned))
        # their state is restored before any of their records is handed over (or a record would
        # find no state and start the partition afresh; a window whose partition has nothing
        # new to deliver still closes), and windows count them in their watermark at once
        await self.Pipeline.assign_partitions([partition_name(tp) for tp in assigned])

    def backlog(self, partition: str) -> bool:
        """True while records of the topic-partition wait: fetched and not handed over yet, or
        below the high watermark of its last fetch (a window does not count it idle then)."""
        tp = self._assigned.get(partition)
        consumer = self.consumer
        if tp is None or consumer is None or tp not in consumer.assignment():
            return False
        if tp in self._unhanded:
            return True
        highwater = consumer.highwater(tp)
        read_upto = self._read_upto.get(tp)
        return highwater is not None and read_upto is not None and read_upto < highwater

    async def _settle(self, partitions: set[TopicPartition], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._settling = True
        try:
            while True:
                left = sum(len(self._open.get(tp, ())) for tp in partitions)
                remaining = deadline - loop.time()
                if not left:
                    return
                if remaining <= 0:
                    L.warning(
                        "%s: %d batch(es) of revoked partitions still in flight after %.1fs; "
                        "they are not committed and will be delivered again",
                        self.location(),
                        left,
                        timeout,
                    )
                    return
                self._progress.clear()
                await wait_event(self._progress, remaining)
        finally:
            self._settling = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Commit what is done, then leave the group."""
        consumer = self.consumer
        if consumer is None:
            return
        try:
            await asyncio.wait_for(self.commit(), self.Config.revoke_timeout or 5.0)
        except Exception as exc:
            L.warning(
                "%s: final commit failed (%s: %s); uncommitted events will be delivered again",
                self.location(),
                type(exc).__name__,
                exc,
            )
        self.consumer = None
        try:
            await consumer.stop()
        except Exception as exc:
            L.warning("%s: closing the consumer failed: %s", self.location(), exc)

    def _report(self, what: str, exc: BaseException, detail: str = "") -> None:
        """Count a recurring problem, keep it in the pipeline's recent errors, log it at times."""
        self.Pipeline.report_error(self, exc)
        log = self._reports.get(what)
        if log is None:
            log = self._reports[what] = pump.RateLimitedLog(L, REPORT_EVERY)
        log.error(
            "%s: %s failed: %s: %s%s (retrying)",
            self.location(),
            what,
            type(exc).__name__,
            exc,
            f" ({detail})" if detail else "",
        )


def partition_name(tp: TopicPartition) -> str:
    """`topic[3]`: how a topic-partition is named in state and positions."""
    return f"{tp.topic}[{tp.partition}]"


def _names(partitions: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions)) or "none"
