"""Publishing many messages on one channel in one write, each with its publisher confirm.

aio-pika publishes a message per call, and each call takes the channel lock and waits for the
socket to drain; pipelining a batch that way costs a task per message. Here a whole batch
becomes one write to the connection, with one confirmation future per message registered the
way aiormq's own `basic_publish` registers it — so aiormq's frame reader resolves them (ack,
nack, return, channel closed) exactly as it does for its own publishes.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from aiormq.abc import AbstractChannel, ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

#: A message to publish: (exchange, routing key, body, properties with a message_id, mandatory).
Outgoing = tuple[str, str, bytes, spec.Basic.Properties, bool]

_RUN = uuid.uuid4().hex[:16]
_COUNTER = itertools.count(1)


def new_message_id() -> str:
    """A message id unique to this process run (aiormq matches returned messages by it)."""
    return f"{_RUN}-{next(_COUNTER)}"


#: What `publish` needs of an aiormq channel to write a batch at once.
_CHANNEL_INTERNALS = (
    "confirmations",
    "message_id_delivery_tag",
    "delivery_tag",
    "write_queue",
    "max_content_size",
    "lock",
)


def batch_write_supported(channel: AbstractChannel) -> bool:
    """True when the channel has the aiormq internals `publish` registers confirmations in."""
    return all(hasattr(channel, name) for name in _CHANNEL_INTERNALS)


def check_routing_key(routing_key: str) -> None:
    """Raise ValueError for a routing key the protocol cannot carry."""
    if len(routing_key.encode()) > 255:
        raise ValueError(f"routing key longer than 255 bytes: {routing_key[:40]!r}...")


async def publish(
    channel: AbstractChannel, messages: Sequence[Outgoing]
) -> list[asyncio.Future[Any]]:
    """Send `messages` in one write; returns their confirmation futures, in order.

    Each future resolves to the broker's Basic.Ack, or fails with aiormq's DeliveryError
    (nacked), PublishError (returned: unroutable with mandatory) or the channel's close reason.
    The channel must have publisher confirms on (and `on_return_raises`). With an aiormq
    that lacks the internals used here, messages go one by one through `basic_publish`.
    """
    if not batch_write_supported(channel):
        return [
            asyncio.ensure_future(
                channel.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                )
            )
            for exchange, routing_key, body, properties, mandatory in messages
        ]
    ch: Any = channel
    confirmations = ch.confirmations
    by_message_id = ch.message_id_delivery_tag
    max_body = ch.max_content_size
    futures: list[asyncio.Future[Any]] = []
    frames: list[Any] = []
    async with ch.lock:
        first_tag = ch.delivery_tag + 1
        tag = ch.delivery_tag
        try:
            for exchange, routing_key, body, properties, mandatory in messages:
                tag += 1
                future = channel.create_future()
                confirmations[tag] = future
                by_message_id[properties.message_id] = tag
                futures.append(future)
                frames.append(
                    spec.Basic.Publish(
                        exchange=exchange, routing_key=routing_key, mandatory=mandatory
                    )
                )
                frames.append(ContentHeader(0, len(body), properties))
                if len(body) <= max_body:
                    if body:
                        frames.append(ContentBody(body))
                else:
                    frames.extend(
                        ContentBody(body[i : i + max_body]) for i in range(0, len(body), max_body)
                    )
            ch.delivery_tag = tag
            await ch.write_queue.put(ChannelFrame.marshall(channel_number=ch.number, frames=frames))
        except BaseException:
            # The broker has seen none of them: give the delivery tags back, as aiormq does.
            ch.delivery_tag = first_tag - 1
            for number, (future, message) in enumerate(zip(futures, messages, strict=False)):
                confirmations.pop(first_tag + number, None)
                by_message_id.pop(message[3].message_id, None)
                future.cancel()
            raise
    return futures


def forget(channel: AbstractChannel, messages: Sequence[Outgoing]) -> None:
    """Drop the return-matching entries of settled messages (aiormq keeps them otherwise)."""
    by_message_id: dict[str, int] = getattr(channel, "message_id_delivery_tag", {})
    for message in messages:
        by_message_id.pop(message[3].message_id, None)  # type: ignore[arg-type]
