"""ReopeningChannel: a component's channel, opened again on the current connection once it closed.

A channel dies with its connection, and the broker closes one on any failed operation (a
missing exchange, a failed declaration); the component then needs a new one, opened once even
when several writers notice at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel

    from pump_amqp.connection import AMQPConnection

L = logging.getLogger(__name__)


class ReopeningChannel:
    """The channel `get()` returns is open: the last one, or a new one if that one closed."""

    def __init__(
        self,
        connection: AMQPConnection,
        where: str,
        *,
        publisher_confirms: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.connection = connection
        self.where = where
        self.publisher_confirms = publisher_confirms
        self.timeout = timeout
        #: Channels opened so far (a second one means the first was lost).
        self.opened = 0
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def get(self, timeout: float | None = None) -> AbstractChannel:
        """An open channel, waiting up to `timeout` (default: the one given) for the connection."""
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._lock:
            channel = self._channel
            if channel is None or channel.is_closed:
                channel = await self.connection.open_channel(
                    publisher_confirms=self.publisher_confirms,
                    timeout=self.timeout if timeout is None else timeout,
                )
                self._channel = channel
                self.opened += 1
                if self.opened > 1:
                    L.info("%s: on a new channel (%d)", self.where, self.opened)
            return channel

    async def close(self) -> None:
        """Close the channel, if open (nothing is lost if that fails: it is going anyway)."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            try:
                await channel.close()
            except Exception:
                L.debug("%s: closing the channel failed", self.where, exc_info=True)
