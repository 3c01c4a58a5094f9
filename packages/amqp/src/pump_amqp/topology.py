"""Declaring queues, exchanges and bindings, or checking that they exist, with clear errors.

Every operation runs on a throwaway channel: the broker closes a channel on a failed
declaration (a missing entity, different arguments), and the channels that consume or publish
must not go down with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import aiormq

from pump_amqp.channel import ReopeningChannel
from pump_amqp.errors import AMQPTopologyError

if TYPE_CHECKING:
    from pump_amqp.connection import AMQPConnection


class Topology:
    """What a component needs on the broker: exchanges to declare or check, a queue, bindings."""

    def __init__(self, connection: AMQPConnection, where: str, timeout: float) -> None:
        self.connection = connection
        self.where = where
        self.timeout = timeout
        self.exchanges: list[tuple[str, str, bool, dict[str, Any]]] = []
        self.queue: tuple[str, bool, bool, bool, dict[str, Any]] | None = None
        self.bindings: list[tuple[str, str, str]] = []
        self.check_queues: list[str] = []
        self.check_exchanges: list[str] = []

    def declare_exchange(
        self, name: str, type: str, durable: bool, arguments: Mapping[str, Any] | None = None
    ) -> None:
        """Declare an exchange (no-op for the default exchange "")."""
        if name:
            self.exchanges.append((name, type, durable, dict(arguments or {})))

    def declare_queue(
        self,
        name: str,
        durable: bool,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        """Declare the queue."""
        self.queue = (name, durable, exclusive, auto_delete, dict(arguments or {}))

    def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        """Bind `queue` to `exchange` with `routing_key`."""
        self.bindings.append((queue, exchange, routing_key))

    def require_queue(self, name: str) -> None:
        """Check that the queue exists (passively; it is not created)."""
        self.check_queues.append(name)

    def require_exchange(self, name: str) -> None:
        """Check that the exchange exists (passively; it is not created)."""
        if name:
            self.check_exchanges.append(name)

    async def apply(self) -> None:
        """Declare and check everything; AMQPTopologyError naming what is missing or different."""
        timeout = self.timeout
        steps: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = []
        for name, type_, durable, arguments in self.exchanges:
            steps.append(
                (
                    f"declaring exchange '{name}' ({type_}, durable={durable})",
                    partial(
                        _declare_exchange,
                        name=name,
                        type=type_,
                        durable=durable,
                        arguments=arguments,
                        timeout=timeout,
                    ),
                )
            )
        for name in self.check_exchanges:
            steps.append(
                (f"exchange '{name}'", partial(_check_exchange, name=name, timeout=timeout))
            )
        if self.queue is not None:
            qname, durable, exclusive, auto_delete, arguments = self.queue
            steps.append(
                (
                    f"declaring queue '{qname}' (durable={durable}, arguments={arguments})",
                    partial(
                        _declare_queue,
                        name=qname,
                        durable=durable,
                        exclusive=exclusive,
                        auto_delete=auto_delete,
                        arguments=arguments,
                        timeout=timeout,
                    ),
                )
            )
        for name in self.check_queues:
            steps.append((f"queue '{name}'", partial(_check_queue, name=name, timeout=timeout)))
        for queue, exchange, key in self.bindings:
            steps.append(
                (
                    f"binding queue '{queue}' to exchange '{exchange}' with routing key '{key}'",
                    partial(
                        _bind, queue=queue, exchange=exchange, routing_key=key, timeout=timeout
                    ),
                )
            )
        # A failed step closes the channel; the next step gets a new one.
        channel = ReopeningChannel(self.connection, self.where, timeout=self.timeout)
        try:
            for what, step in steps:
                try:
                    await step(await channel.get())
                except aiormq.exceptions.ChannelNotFoundEntity as exc:
                    raise AMQPTopologyError(
                        f"{self.where}: {what} does not exist on {self.connection.masked_url} "
                        f"({_reply(exc)}); create it, or set `declare: true`"
                        if not what.startswith(("declaring", "binding"))
                        else f"{self.where}: {what} failed: {_reply(exc)}"
                    ) from None
                except aiormq.exceptions.ChannelClosed as exc:
                    raise AMQPTopologyError(f"{self.where}: {what} failed: {_reply(exc)}") from None
        finally:
            await channel.close()


async def _declare_exchange(
    channel: Any, *, name: str, type: str, durable: bool, arguments: dict[str, Any], timeout: float
) -> None:
    await channel.exchange_declare(
        name, exchange_type=type, durable=durable, arguments=arguments or None, timeout=timeout
    )


async def _check_exchange(channel: Any, *, name: str, timeout: float) -> None:
    await channel.exchange_declare(name, passive=True, timeout=timeout)


async def _declare_queue(
    channel: Any,
    *,
    name: str,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    arguments: dict[str, Any],
    timeout: float,
) -> None:
    await channel.queue_declare(
        name,
        durable=durable,
        exclusive=exclusive,
        auto_delete=auto_delete,
        arguments=arguments or None,
        timeout=timeout,
    )


async def _check_queue(channel: Any, *, name: str, timeout: float) -> None:
    await channel.queue_declare(name, passive=True, timeout=timeout)


async def _bind(
    channel: Any, *, queue: str, exchange: str, routing_key: str, timeout: float
) -> None:
    await channel.queue_bind(queue, exchange, routing_key=routing_key, timeout=timeout)


def _reply(exc: BaseException) -> str:
    args: Sequence[Any] = getattr(exc, "args", ())
    texts = [a for a in args if isinstance(a, str)]
    return texts[-1] if texts else str(exc) or type(exc).__name__
