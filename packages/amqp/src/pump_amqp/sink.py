"""AMQPSink: publish events to an exchange; a batch is done only when the broker confirmed it.

A batch is published in one write with publisher confirms on, and its write completes when
the broker confirmed every message — so the source's messages are acknowledged only after
their results are safely in the broker. Messages are persistent by default and `mandatory`:
a message no queue takes is returned by the broker, and that event fails (a
PartialWriteError naming it) instead of vanishing. Such a failure (`AMQPUnroutable`) is
permanent, as is an event that cannot be made a message (a body that cannot be serialized,
a bad per-event property): the pipeline's error policy gets it at once, without retries.
When the connection drops, unconfirmed messages fail their write, and the pipeline writes
them again on a new channel.

Per event, the context may override where a message goes and what it carries, with keys
distinct from the ones AMQPSource sets, so an input's routing key is never echoed by accident:
`amqp_sink_exchange`, `amqp_sink_routing_key`, `amqp_sink_headers` (merged over `headers`),
`amqp_sink_properties` (message_id, correlation_id, content_type, priority, expiration, ...).
A processor that sets them declares `writes_context = True`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import aiormq
import orjson
from pamqp import commands as spec
from pydantic import Field

import pump
from pump_amqp.channel import ReopeningChannel
from pump_amqp.connection import AMQPConnection
from pump_amqp.errors import AMQPError, AMQPPublishError, AMQPTopologyError, AMQPUnroutable
from pump_amqp.publishing import Outgoing, check_routing_key, forget, new_message_id, publish
from pump_amqp.topology import Topology

L = logging.getLogger(__name__)

EXCHANGE_KEY = "amqp_sink_exchange"
ROUTING_KEY_KEY = "amqp_sink_routing_key"
HEADERS_KEY = "amqp_sink_headers"
PROPERTIES_KEY = "amqp_sink_properties"

#: Keys of `amqp_sink_properties` → Basic.Properties attributes.
_PROPERTY_NAMES = {
    "content_type": "content_type",
    "content_encoding": "content_encoding",
    "delivery_mode": "delivery_mode",
    "priority": "priority",
    "correlation_id": "correlation_id",
    "reply_to": "reply_to",
    "expiration": "expiration",
    "message_id": "message_id",
    "timestamp": "timestamp",
    "type": "message_type",
    "message_type": "message_type",
    "user_id": "user_id",
    "app_id": "app_id",
}


class AMQPSinkConfig(pump.ComponentConfig):
    """Settings of an AMQPSink."""

    exchange: str = Field(
        "amq.direct",
        description='Exchange to publish to ("" is the default exchange: routing key = queue name)',
    )
    routing_key: str = Field(
        "", description="Routing key of every message (per event: context amqp_sink_routing_key)"
    )
    persistent: bool = Field(
        True,
        description=(
            "Persistent delivery mode (2): messages survive a broker restart in durable queues"
        ),
    )
    mandatory: bool = Field(
        True,
        description=(
            "Unroutable messages are returned and fail their event (else the broker drops them)"
        ),
    )
    content_type: str = Field(
        "",
        description=(
            "Content type; empty: application/json for JSON-encoded events, text/plain for str, "
            "none for bytes"
        ),
    )
    content_encoding: str = Field("", description="Content encoding property (empty: not set)")
    headers: dict[str, Any] = Field(
        default_factory=dict,
        description="Headers of every message (per event: merged with context amqp_sink_headers)",
    )
    app_id: str = Field("", description="app_id property (empty: not set)")
    declare: bool = Field(False, description="Declare the exchange; else it must exist")
    exchange_type: str = Field(
        "direct", description="Type of the declared exchange: direct, topic, fanout, headers"
    )
    durable: bool = Field(True, description="Declare the exchange durable")
    exchange_arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments of the declared exchange"
    )
    publish_timeout: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds for the broker to confirm a batch (and to reconnect) before its write fails"
        ),
    )


class AMQPSink(pump.Sink):
    """Publishes each event as a message; done when the broker confirmed it.

    The body is the event itself when it is bytes, UTF-8 when it is a str, and JSON otherwise.
    """

    ConfigModel = AMQPSinkConfig
    Config: AMQPSinkConfig

    channels_opened = pump.Counter("Publishing channels opened (more than one: one was lost)")

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
        config_ = self.Config
        self._exchange = config_.exchange
        self._routing_key = config_.routing_key
        self._delivery_mode = 2 if config_.persistent else 1
        self._mandatory = config_.mandatory
        self._headers = dict(config_.headers) or None
        self._channel = ReopeningChannel(self.Connection, self.location(), publisher_confirms=True)
        self._known_exchanges: set[str] = {""}
        check_routing_key(self._routing_key)

    # -- writing ----------------------------------------------------------------------------

    def write(
        self, events: list[Any], contexts: Sequence[dict[str, Any]]
    ) -> Awaitable[None] | None:
        """Publish the batch now; the returned awaitable completes when the broker confirmed it."""
        messages: list[Outgoing] = []
        positions: list[int] = []
        errors: dict[int, BaseException] = {}
        message = self._message
        for i, (context, event) in enumerate(zip(contexts, events, strict=True)):
            try:
                messages.append(message(context, event))
            except Exception as exc:  # it cannot be made a message: it never will be
                errors[i] = pump.PermanentWriteError.wrap(self.location(), exc)
                continue
            positions.append(i)
        if not messages:
            if len(errors) == 1:
                raise next(iter(errors.values()))
            raise pump.PartialWriteError(errors)
        return self._send(messages, positions, errors, len(events))

    def _message(self, context: Mapping[str, Any], event: Any) -> Outgoing:
        """The (exchange, routing key, body, properties, mandatory) of one event."""
        if type(event) is bytes:
            body, content_type = event, None
        elif isinstance(event, str):
            body, content_type = event.encode(), "text/plain"
        elif isinstance(event, (bytearray, memoryview)):
            body, content_type = bytes(event), None
        else:
            body, content_type = orjson.dumps(event), "application/json"
        config = self.Config
        exchange = context.get(EXCHANGE_KEY)
        routing_key = context.get(ROUTING_KEY_KEY)
        if routing_key is None:
            routing_key = self._routing_key
        else:
            check_routing_key(routing_key)
        headers = self._headers
        extra_headers = context.get(HEADERS_KEY)
        if extra_headers:
            headers = {**headers, **extra_headers} if headers else dict(extra_headers)
        properties = spec.Basic.Properties(
            content_type=config.content_type or content_type,
            content_encoding=config.content_encoding or None,
            headers=headers,
            delivery_mode=self._delivery_mode,
            message_id=new_message_id(),
            app_id=config.app_id or None,
        )
        overrides = context.get(PROPERTIES_KEY)
        if overrides:
            for key, value in overrides.items():
                attribute = _PROPERTY_NAMES.get(key)
                if attribute is None:
                    raise ValueError(
                        f"{PROPERTIES_KEY}: unknown AMQP property '{key}' "
                        f"(known: {', '.join(sorted(_PROPERTY_NAMES))})"
                    )
                if attribute == "timestamp" and isinstance(value, (int, float)):
                    value = datetime.datetime.fromtimestamp(value, datetime.UTC)
                elif attribute == "expiration" and isinstance(value, (int, float)):
                    value = str(int(value))
                setattr(properties, attribute, value)
            properties.validate()
            if not properties.message_id:
                properties.message_id = new_message_id()
        return (
            self._exchange if exchange is None else exchange,
            routing_key,
            body,
            properties,
            self._mandatory,
        )

    async def _send(
        self,
        messages: list[Outgoing],
        positions: list[int],
        errors: dict[int, BaseException],
        count: int,
    ) -> None:
        timeout = self.Config.publish_timeout
        unknown = {m[0] for m in messages} - self._known_exchanges
        if unknown:
            missing_exchanges = await self._check_exchanges(unknown, timeout)
            if missing_exchanges:
                kept_messages, kept_positions = [], []
                for position, message in zip(positions, messages, strict=True):
                    missing = missing_exchanges.get(message[0])
                    if missing is None:
                        kept_messages.append(message)
                        kept_positions.append(position)
                    else:
                        errors[position] = missing
                messages, positions = kept_messages, kept_positions
        if messages:
            try:
                channel = await self._channel.get(timeout)
                self.channels_opened = self._channel.opened
                futures = await publish(channel, messages)
            except Exception as exc:
                refused = self._failure(exc, None)
                for position in positions:
                    errors[position] = refused
            else:
                try:
                    _done, pending = await asyncio.wait(futures, timeout=timeout)
                finally:
                    forget(channel, messages)
                for position, message, future in zip(positions, messages, futures, strict=True):
                    if future in pending:
                        future.cancel()
                        errors[position] = AMQPPublishError(
                            f"{self.location()}: the broker did not confirm the message within "
                            f"{timeout}s (publish_timeout); it will be published again"
                        )
                    elif future.cancelled():
                        errors[position] = AMQPPublishError(f"{self.location()}: publish cancelled")
                    elif (exception := future.exception()) is not None:
                        errors[position] = self._failure(exception, message)
                        if isinstance(exception, aiormq.exceptions.ChannelNotFoundEntity):
                            # An exchange was deleted: check it again before the next publish.
                            self._known_exchanges.discard(message[0])
                            self._known_exchanges.add("")
        if errors:
            if len(errors) == count:
                first = next(iter(errors.values()))
                if all(type(e) is type(first) and str(e) == str(first) for e in errors.values()):
                    raise first
            raise pump.PartialWriteError(errors)

    def _failure(self, exc: BaseException, message: Outgoing | None) -> BaseException:
        """A clear error for a message the broker did not take."""
        if isinstance(exc, aiormq.exceptions.PublishError):
            frame = getattr(exc, "frame", None)
            reply = getattr(frame, "reply_text", "") or "unroutable"
            exchange, routing_key = (message[0], message[1]) if message else ("?", "?")
            return AMQPUnroutable(
                f"{self.location()}: message returned by the broker ({reply}): no queue is bound "
                f"to exchange '{exchange}' with routing key '{routing_key}'"
            )
        if isinstance(exc, aiormq.exceptions.DeliveryError):
            return AMQPPublishError(f"{self.location()}: the broker refused (nacked) the message")
        if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
            return AMQPTopologyError(f"{self.location()}: {exc}")
        if isinstance(exc, AMQPError):
            return exc
        return AMQPPublishError(
            f"{self.location()}: not confirmed by the broker "
            f"({self.Connection.describe_error(exc)}); it will be published again"
        )

    async def _check_exchanges(
        self, names: set[str], timeout: float
    ) -> dict[str, AMQPTopologyError]:
        """Check exchanges not used yet, so a missing one fails only its own events.

        Publishing to a missing exchange would close the channel and fail every message on it.
        """
        missing: dict[str, AMQPTopologyError] = {}
        for name in names:
            topology = Topology(self.Connection, self.location(), timeout)
            topology.require_exchange(name)
            try:
                await topology.apply()
            except AMQPTopologyError as exc:
                missing[name] = exc
            else:
                self._known_exchanges.add(name)
        return missing

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare the exchange, or check that it exists (a clear error now, not per write)."""
        config = self.Config
        topology = Topology(self.Connection, self.location(), config.publish_timeout)
        if config.declare:
            topology.declare_exchange(
                config.exchange, config.exchange_type, config.durable, config.exchange_arguments
            )
        else:
            topology.require_exchange(config.exchange)
        await topology.apply()
        self._known_exchanges.add(config.exchange)

    async def stop(self) -> None:
        """Close the publishing channel (every write was confirmed or failed before this)."""
        await self._channel.close()
