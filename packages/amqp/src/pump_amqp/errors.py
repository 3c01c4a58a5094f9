"""Errors of pump-amqp: each names the component at fault and never shows a credential."""

from __future__ import annotations

from pump.errors import PermanentWriteError, PumpError


class AMQPError(PumpError):
    """Something about the broker is wrong: unreachable, refused, or missing a queue/exchange."""


class AMQPConnectionError(AMQPError, ConnectionError):
    """The broker cannot be reached or refused the connection (bad address, credentials, TLS)."""


class AMQPTopologyError(AMQPError):
    """A queue or exchange the component needs does not exist, or was declared differently."""


class AMQPPublishError(AMQPError):
    """The broker did not take a published message: returned unroutable, or nacked."""


class AMQPUnroutable(AMQPPublishError, PermanentWriteError):
    """A `mandatory` message no queue takes came back: its event fails without retries."""
