"""AMQPSource: consume a RabbitMQ queue; every message is acknowledged only once it is done.

Messages arrive on a channel of their own with manual acknowledgement; `prefetch_count` bounds
how many are unacknowledged at once, so a slow pipeline slows the broker down (backpressure).
What arrived is handed over in batches (up to `batch_size`, waiting at most `batch_linger` for
a batch to fill). A batch is acknowledged when the pipeline says it is done; a failed batch is
requeued, or dead-lettered by policy, and a message that failed `delivery_limit` times goes to
the queue's dead-letter exchange instead of looping forever.

After a connection or channel loss the source consumes again on a new channel; batches of
the old channel are never acknowledged with their stale delivery tags: the broker delivers
those messages again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp import commands as spec
from pydantic import Field

import pump
from pump_amqp.channel import ReopeningChannel
from pump_amqp.connection import AMQPConnection
from pump_amqp.errors import AMQPConnectionError, AMQPError, AMQPTopologyError
from pump_amqp.publishing import new_message_id, publish
from pump_amqp.settlement import ChannelSettlement, Deliveries, StaleCount, delivery_tag
from pump_amqp.topology import Topology

L = logging.getLogger(__name__)

#: Header RabbitMQ sets on quorum-queue redeliveries: how many deliveries of it failed before.
BROKER_COUNT_HEADER = "x-delivery-count"
#: Header this source sets when it requeues by republishing (classic queues count nothing).
PUMP_COUNT_HEADER = "x-pump-delivery-count"

#: Basic.Properties attribute → key in the `amqp_properties` context dict.
_PROPERTIES = (
    ("content_type", "content_type"),
    ("content_encoding", "content_encoding"),
    ("delivery_mode", "delivery_mode"),
    ("priority", "priority"),
    ("correlation_id", "correlation_id"),
    ("reply_to", "reply_to"),
    ("expiration", "expiration"),
    ("message_id", "message_id"),
    ("timestamp", "timestamp"),
    ("message_type", "type"),
    ("user_id", "user_id"),
    ("app_id", "app_id"),
)


def message_properties(properties: spec.Basic.Properties) -> dict[str, Any]:
    """The message's AMQP properties that are set (headers excepted), as a dict."""
    return {
        key: value
        for attribute, key in _PROPERTIES
        if (value := getattr(properties, attribute, None)) is not None
    }


def failed_deliveries(headers: Mapping[str, Any] | None) -> int:
    """How many deliveries of a message failed before this one (broker's or this source's count)."""
    if not headers:
        return 0
    count = 0
    for key in (BROKER_COUNT_HEADER, PUMP_COUNT_HEADER):
        value = headers.get(key)
        if value is not None:
            with contextlib.suppress(TypeError, ValueError):
                count = max(count, int(value))
    return count


class _Consumer:
    """The state of one consuming channel: deliveries waiting to be handed over, wake-ups."""

    __slots__ = (
        "arrived",
        "buffer",
        "cancelled",
        "closed",
        "full",
        "settlement",
        "stopping",
        "tag",
    )

    def __init__(self, settlement: ChannelSettlement) -> None:
        self.settlement = settlement
        self.buffer: list[DeliveredMessage] = []
        self.arrived = asyncio.Event()
        self.full = asyncio.Event()
        self.closed = False  # no more hand-overs (channel gone, or consumer being cancelled)
        self.stopping = False  # the consumer is being cancelled
        self.cancelled = False  # the broker confirmed the cancel: nothing more arrives
        self.tag: str | None = None

    def is_open(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True
        self.arrived.set()
        self.full.set()


class AMQPSourceConfig(pump.ComponentConfig):
    """Settings of an AMQPSource (and AMQPFullMessageSource)."""

    queue: str = Field(..., min_length=1, description="Queue to consume", examples=["orders"])
    prefetch_count: int = Field(
        1000, ge=1, description="Most messages unacknowledged at once (bounds memory; backpressure)"
    )
    batch_size: int = Field(
        256, ge=1, description="Most messages handed to the pipeline in one batch"
    )
    batch_linger: float = Field(
        0.005,
        ge=0,
        description="Seconds to wait for a batch to fill before handing over what arrived",
    )
    declare: bool = Field(
        False,
        description=(
            "Declare the queue (and exchange, bindings, dead-letter exchange); else it must exist"
        ),
    )
    durable: bool = Field(True, description="Declare the queue and exchanges durable")
    exclusive: bool = Field(False, description="Declare the queue exclusive to this connection")
    auto_delete: bool = Field(False, description="Declare the queue auto-delete")
    queue_arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="Queue arguments to declare with, e.g. x-queue-type, x-message-ttl",
    )
    exchange: str = Field(
        "", description="With declare: an exchange to declare and bind the queue to"
    )
    exchange_type: str = Field(
        "direct", description="Type of that exchange: direct, topic, fanout, headers"
    )
    exchange_arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments of that exchange"
    )
    routing_keys: list[str] = Field(
        default_factory=list,
        description="Binding keys of the queue to the exchange (none: the queue name)",
    )
    dead_letter_exchange: str = Field(
        "",
        description=(
            "With declare: a fanout exchange declared and set as the queue's x-dead-letter-exchange"
        ),
    )
    delivery_limit: int = Field(
        0,
        ge=0,
        description=(
            "A message whose delivery failed this many times goes to the dead-letter exchange (0: "
            "no limit)"
        ),
    )
    on_reject: Literal["requeue", "dead_letter"] = Field(
        "requeue",
        description=(
            "A failed batch: requeue its messages (up to delivery_limit) or reject them to the "
            "dead-letter exchange"
        ),
    )
    redelivery: Literal["auto", "requeue", "republish"] = Field(
        "auto",
        description=(
            "How a requeued message is counted for delivery_limit: requeue (the broker counts: "
            "quorum queues), republish (a copy with an x-pump-delivery-count header: classic "
            "queues), auto (requeue for a quorum queue declared here or a message carrying "
            "x-delivery-count, else republish)"
        ),
    )
    consumer_tag: str = Field("", description="Consumer tag (empty: the broker picks one)")
    timeout: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds for broker operations (open a channel, declare) before they count as failed"
        ),
    )


class AMQPSource(pump.Source):
    """Consumes a queue; the event is the message body (bytes), the context holds its metadata.

    Context keys: `amqp_queue`, `amqp_routing_key`, `amqp_exchange`, `amqp_headers`,
    `amqp_properties` (content_type, message_id, correlation_id, timestamp, ...),
    `amqp_redelivered`, `amqp_delivery_tag`.
    """

    ConfigModel = AMQPSourceConfig
    Config: AMQPSourceConfig

    acknowledged = pump.Counter("Messages acknowledged to the broker (their events are done)")
    requeued = pump.Counter("Messages of failed batches given back to the queue")
    dead_lettered = pump.Counter("Messages rejected to the dead-letter exchange")
    republished = pump.Counter(
        "Messages requeued as counted copies (delivery_limit on classic queues)"
    )
    reconnects = pump.Counter("Times the link to the server was re-established after a loss")

    #: True: the event is the whole message as a dict (AMQPFullMessageSource).
    full_message: ClassVar[bool] = False

    def __init__(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        connection: str | AMQPConnection,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, AMQPConnection, where=self)
        self.generation = 0  # consuming channels opened so far
        self._consumer: _Consumer | None = None
        self._settlements: list[ChannelSettlement] = []  # of channels still open
        self._stale = StaleCount()
        self._republish_channel = ReopeningChannel(
            self.Connection, self.location(), publisher_confirms=True, timeout=self.Config.timeout
        )
        self._tasks = pump.TaskGroup(self.location())
        self._topology_checked = False  # by start(); checked again after every channel loss

    # -- consuming --------------------------------------------------------------------------

    async def main(self) -> None:
        """Consume until stopped, on a new channel after every channel or connection loss.

        While the pipeline is in error the source does not consume at all: a message the
        broker sent meanwhile would only be returned, and a quorum queue counts every return
        towards its delivery limit.
        """
        backoff = self.Connection.Config.backoff()
        delay = 0.0
        settlement: ChannelSettlement | None = None
        while True:
            if delay:
                await asyncio.sleep(delay)
            await self.Pipeline.ready()
            try:
                consumer = await self._consume(settlement)
            except (
                TimeoutError,
                AMQPConnectionError,
                aiormq.exceptions.AMQPError,
                ConnectionError,
                RuntimeError,
            ) as exc:
                delay = backoff.next_delay()
                settlement = None
                L.warning(
                    "%s: cannot consume yet (%s); retrying in %.1fs", self.location(), exc, delay
                )
                continue
            delay = 0.0
            backoff.reset()
            settlement = consumer.settlement
            try:
                await self._hand_over(consumer)
            finally:
                if not consumer.stopping:  # cancelled (stopping), or the channel died
                    self._tasks.spawn(self._stop_consuming(consumer))
            if not settlement.alive:
                settlement = None
                L.warning(
                    "%s: channel %d closed; consuming '%s' again on a new one",
                    self.location(),
                    consumer.settlement.generation,
                    self.Config.queue,
                )

    async def _consume(self, settlement: ChannelSettlement | None = None) -> _Consumer:
        """Start consuming: on the channel of `settlement` if still open, else on a new one."""
        config = self.Config
        if settlement is None or not settlement.alive:
            if not self._topology_checked:
                await self._topology().apply()
            self._topology_checked = False
            channel = await self.Connection.open_channel(timeout=config.timeout)
            self.generation += 1
            if self.generation > 1:
                self.reconnects += 1  # consuming again after the channel or connection was lost
            settlement = ChannelSettlement(channel, self.generation, self.location(), self._stale)
            self._settlements = [s for s in self._settlements if s.alive]
            self._settlements.append(settlement)
        channel = settlement.channel
        consumer = _Consumer(settlement)
        channel.closing.add_done_callback(lambda _: consumer.close())

        def on_cancel(frame: Any) -> None:
            if frame.consumer_tag == consumer.tag:
                L.warning(
                    "%s: the broker cancelled the consumer of '%s' (was the queue deleted?)",
                    self.location(),
                    config.queue,
                )
                consumer.close()

        # (older aiormq versions do not report a cancel by the broker)
        cancel_callbacks = getattr(channel, "on_consumer_cancel_callbacks", None)
        if cancel_callbacks is not None:
            cancel_callbacks.add(on_cancel)
        try:
            await channel.basic_qos(prefetch_count=config.prefetch_count, timeout=config.timeout)
            ok = await channel.basic_consume(
                config.queue,
                self._on_delivery_of(consumer),
                no_ack=False,
                exclusive=False,
                consumer_tag=config.consumer_tag or None,
                timeout=config.timeout,
            )
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise AMQPTopologyError(
                f"{self.location()}: queue '{config.queue}' does not exist on "
                f"{self.Connection.masked_url}; create it, or set `declare: true`"
            ) from None
        except aiormq.exceptions.ChannelAccessRefused as exc:
            raise AMQPError(
                f"{self.location()}: consuming '{config.queue}' refused: {exc}"
            ) from None
        consumer.tag = ok.consumer_tag
        self._consumer = consumer
        return consumer

    def _on_delivery_of(self, consumer: _Consumer) -> Any:
        buffer = consumer.buffer
        arrived = consumer.arrived
        full = consumer.full
        batch_size = self.Config.batch_size

        async def on_delivery(message: DeliveredMessage) -> None:
            if consumer.cancelled:
                # Arrived after the consumer was cancelled: give it back at once.
                consumer.settlement.settle_tags([delivery_tag(message)], None)
                return
            buffer.append(message)
            if not arrived.is_set():
                arrived.set()
            if len(buffer) >= batch_size:
                full.set()

        return on_delivery

    async def _hand_over(self, consumer: _Consumer) -> None:
        """Hand over what arrived, batch by batch, until the channel closes."""
        config = self.Config
        batch_size = config.batch_size
        linger = config.batch_linger
        buffer = consumer.buffer
        arrived = consumer.arrived
        full = consumer.full
        settlement = consumer.settlement
        loop = asyncio.get_running_loop()
        ready = self.Pipeline.ready
        while not consumer.closed:
            if not buffer:
                arrived.clear()
                await arrived.wait()
                continue
            if linger and len(buffer) < batch_size:
                full.clear()
                timer = loop.call_later(linger, full.set)
                await full.wait()
                timer.cancel()
            await ready()
            if not consumer.is_open():
                break  # the channel died while waiting: those deliveries come again
            messages = buffer[:batch_size]
            del buffer[:batch_size]
            events, contexts, kept = self._prepare(messages, settlement)
            if not kept:
                continue
            token = Deliveries(settlement, kept)
            settlement.track(token)
            await self.emit(events, contexts=contexts, token=token)

    def _prepare(
        self, messages: list[DeliveredMessage], settlement: ChannelSettlement
    ) -> tuple[list[Any], list[dict[str, Any]], list[DeliveredMessage]]:
        """Events and contexts of a batch; messages past the delivery limit are dead-lettered."""
        queue = self.Config.queue
        limit = self.Config.delivery_limit
        full = self.full_message
        events: list[Any] = []
        contexts: list[dict[str, Any]] = []
        kept: list[DeliveredMessage] = []
        poison: list[int] = []
        for message in messages:
            delivery: Any = message.delivery
            properties = message.header.properties
            headers = properties.headers or {}
            if limit and headers and failed_deliveries(headers) >= limit:
                poison.append(delivery.delivery_tag)
                continue
            context = {
                "amqp_queue": queue,
                "amqp_routing_key": delivery.routing_key,
                "amqp_exchange": delivery.exchange,
                "amqp_headers": headers,
                "amqp_properties": message_properties(properties),
                "amqp_redelivered": delivery.redelivered,
                "amqp_delivery_tag": delivery.delivery_tag,
            }
            kept.append(message)
            contexts.append(context)
            events.append(self.full_event(message, context) if full else message.body)
        if poison:
            self._dead_letter_at_limit(settlement, poison)
        return events, contexts, kept

    def full_event(self, message: DeliveredMessage, context: dict[str, Any]) -> Any:
        """The event of AMQPFullMessageSource: the whole message as a dict."""
        return {
            "body": message.body,
            "exchange": context["amqp_exchange"],
            "routing_key": context["amqp_routing_key"],
            "headers": context["amqp_headers"],
            "properties": context["amqp_properties"],
            "redelivered": context["amqp_redelivered"],
            "delivery_tag": context["amqp_delivery_tag"],
        }

    def _dead_letter_at_limit(self, settlement: ChannelSettlement, tags: list[int]) -> None:
        self.dead_lettered += len(tags)
        self.counters.warnings += len(tags)
        L.warning(
            "%s: %d message(s) of '%s' failed %d times (delivery_limit): rejected to the "
            "dead-letter exchange",
            self.location(),
            len(tags),
            self.Config.queue,
            self.Config.delivery_limit,
        )
        settlement.settle_tags(tags, False)

    async def _stop_consuming(self, consumer: _Consumer) -> None:
        """Cancel the consumer, then give back what arrived but was not handed over.

        Giving back only after the broker confirmed the cancel keeps a returned message from
        being delivered straight back to this consumer.
        """
        if consumer.stopping:
            return
        consumer.stopping = True
        consumer.close()
        settlement = consumer.settlement
        if consumer.tag is not None and settlement.alive:
            try:
                await settlement.channel.basic_cancel(consumer.tag, timeout=self.Config.timeout)
            except Exception:
                L.debug("%s: cancelling the consumer failed", self.location(), exc_info=True)
        consumer.cancelled = True
        waiting = [delivery_tag(m) for m in consumer.buffer]
        consumer.buffer.clear()
        settlement.settle_tags(waiting, None)

    # -- acknowledgement ----------------------------------------------------------------------

    def unacknowledged_limit(self) -> int:
        """The broker sends no more than `prefetch_count` unacknowledged messages."""
        return self.Config.prefetch_count

    def acknowledge(self, batch: pump.Batch) -> None:
        """Every event of the batch is done: ack its messages (if their channel still lives)."""
        token: Deliveries = batch.token
        self.acknowledged += token.settlement.ack(token)

    def reject(self, batch: pump.Batch) -> None:
        """The batch failed: requeue its messages, or dead-letter them (policy, delivery_limit)."""
        token: Deliveries = batch.token
        settlement = token.settlement
        if token.settled or not settlement.alive:
            settlement.ack(token)  # counts it stale; sends nothing
            return
        consumer = self._consumer
        if (
            self.Pipeline.is_error()
            and consumer is not None
            and consumer.settlement is settlement
            and not consumer.stopping
        ):
            # The pipeline stopped on an error: stop consuming before requeueing, or the
            # requeued messages would come straight back only to be returned again.
            self._tasks.spawn(self._reject_after(self._stop_consuming(consumer), batch))
            return
        self._reject(token)

    async def _reject_after(self, first: Any, batch: pump.Batch) -> None:
        await first
        self._reject(batch.token)

    def _reject(self, token: Deliveries) -> None:
        settlement = token.settlement
        config = self.Config
        limit = config.delivery_limit
        dead_letter = config.on_reject == "dead_letter"
        republish: list[DeliveredMessage] = []

        def decide(message: DeliveredMessage) -> bool | None:
            if dead_letter:
                self.dead_lettered += 1
                return False
            headers = message.header.properties.headers
            failures = failed_deliveries(headers) + 1
            if limit and failures >= limit:
                self.dead_lettered += 1
                L.warning(
                    "%s: a message of '%s' failed %d times (delivery_limit %d): rejected to "
                    "the dead-letter exchange",
                    self.location(),
                    config.queue,
                    failures,
                    limit,
                )
                return False
            if limit and self._republishes(headers):
                republish.append(message)
                return True  # acknowledged only once its copy is confirmed (below)
            self.requeued += 1
            return None

        if not limit or dead_letter:
            settlement.settle_each(token, decide)
            return
        verdicts = {delivery_tag(m): decide(m) for m in token.messages}
        if not republish:
            settlement.settle_each(token, lambda m: verdicts[delivery_tag(m)])
            return
        self._tasks.spawn(self._republish_then_settle(token, verdicts, republish))

    def _republishes(self, headers: Mapping[str, Any] | None) -> bool:
        config = self.Config
        if config.redelivery == "auto":
            # A quorum queue counts deliveries itself; its first delivery carries no header yet.
            quorum = config.declare and config.queue_arguments.get("x-queue-type") == "quorum"
            return not (quorum or (headers and BROKER_COUNT_HEADER in headers))
        return config.redelivery == "republish"

    async def _republish_then_settle(
        self,
        token: Deliveries,
        verdicts: dict[int, bool | None],
        messages: list[DeliveredMessage],
    ) -> None:
        """Requeue by publishing counted copies to the queue; ack an original once copied."""
        config = self.Config
        outgoing = []
        for message in messages:
            old = message.header.properties
            headers = dict(old.headers or {})
            headers[PUMP_COUNT_HEADER] = failed_deliveries(old.headers) + 1
            properties = spec.Basic.Properties()
            for attribute, _ in _PROPERTIES:
                setattr(properties, attribute, getattr(old, attribute, None))
            # The broker checks user_id against the publishing user: the copy is ours.
            properties.user_id = None
            properties.headers = headers
            if not properties.message_id:
                properties.message_id = new_message_id()
            outgoing.append(("", config.queue, message.body, properties, True))
        failed: set[int] = set()
        try:
            channel = await self._republish_channel.get()
            futures = await publish(channel, outgoing)
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), config.timeout
            )
            for message, result in zip(messages, results, strict=True):
                if isinstance(result, BaseException):
                    failed.add(delivery_tag(message))
        except Exception as exc:
            L.warning(
                "%s: republishing to count redeliveries failed (%s); requeueing instead",
                self.location(),
                exc,
            )
            failed = {delivery_tag(m) for m in messages}
        for tag in failed:
            verdicts[tag] = None
        self.republished += len(messages) - len(failed)
        self.requeued += len(messages)
        token.settlement.settle_each(token, lambda m: verdicts[delivery_tag(m)])

    # -- lifecycle ----------------------------------------------------------------------------

    def _topology(self) -> Topology:
        config = self.Config
        topology = Topology(self.Connection, self.location(), config.timeout)
        if not config.declare:
            topology.require_queue(config.queue)
            return topology
        arguments = dict(config.queue_arguments)
        if config.dead_letter_exchange:
            topology.declare_exchange(config.dead_letter_exchange, "fanout", config.durable)
            arguments.setdefault("x-dead-letter-exchange", config.dead_letter_exchange)
        if config.exchange:
            topology.declare_exchange(
                config.exchange, config.exchange_type, config.durable, config.exchange_arguments
            )
        topology.declare_queue(
            config.queue, config.durable, config.exclusive, config.auto_delete, arguments
        )
        if config.exchange:
            for key in config.routing_keys or [config.queue]:
                topology.bind(config.queue, config.exchange, key)
        return topology

    async def start(self) -> None:
        """Check (or declare) the queue now: a missing queue fails the start with a clear error."""
        await self._topology().apply()
        self._topology_checked = True

    async def stop(self) -> None:
        """Send every pending acknowledgement, then close the channels."""
        consumer = self._consumer
        if consumer is not None and not consumer.closed:
            await self._stop_consuming(consumer)
        await self._tasks.drain()
        for settlement in self._settlements:
            await settlement.flush()
            if settlement.alive:
                await _close_channel(settlement.channel)
        self._settlements = []
        self._consumer = None
        await self._republish_channel.close()

    def stale(self) -> int:
        """Deliveries not settled because their channel was gone (the broker redelivers them)."""
        return self._stale.count


class AMQPFullMessageSource(AMQPSource):
    """Like AMQPSource, but the event is the whole message (BSPump's AMQPFullMessageSource).

    The event is a dict: `body` (bytes), `exchange`, `routing_key`, `headers`, `properties`,
    `redelivered`, `delivery_tag`; the context carries the same `amqp_*` keys as AMQPSource's.
    """

    full_message = True


async def _close_channel(channel: AbstractChannel) -> None:
    try:
        await channel.close()
    except Exception:  # already closing with its connection: nothing to release
        L.debug("closing an AMQP channel failed", exc_info=True)
