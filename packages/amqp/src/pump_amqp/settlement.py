"""Settling deliveries of one consuming channel: acks, nacks and rejects, in order and batched.

Delivery tags are numbers of one channel: once the channel is gone they mean nothing (or, on a
new channel, another message), so every batch carries the `ChannelSettlement` of the channel
it came from, and a settlement whose channel closed settles nothing — the broker delivers those
messages again.

A batch whose every earlier batch on the channel is settled is acknowledged with a single
`basic.ack(multiple=True)` of its last tag: everything still unacknowledged up to that tag is
then exactly this batch. A batch that completes while an earlier one is still open is
acknowledged tag by tag (never `multiple`, which would also acknowledge the earlier one).
Frames are queued and written to the connection together, without a task per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiormq.abc import AbstractChannel, ChannelFrame, DeliveredMessage
from pamqp import commands as spec

L = logging.getLogger(__name__)


def delivery_tag(message: DeliveredMessage) -> int:
    """The delivery tag of a message delivered to a consumer."""
    return message.delivery.delivery_tag  # type: ignore[union-attr, return-value]


class Deliveries:
    """The token of a batch handed to the pipeline: its messages and the channel they came on."""

    __slots__ = ("last_tag", "messages", "settled", "settlement")

    def __init__(self, settlement: ChannelSettlement, messages: list[DeliveredMessage]) -> None:
        self.settlement = settlement
        self.messages = messages
        self.last_tag = delivery_tag(messages[-1])
        self.settled = False

    @property
    def generation(self) -> int:
        """Which consuming channel of the source these came on (1, 2, ... per reconnection)."""
        return self.settlement.generation

    def tags(self) -> list[int]:
        """The delivery tags, in order."""
        return [delivery_tag(m) for m in self.messages]

    def __repr__(self) -> str:
        return (
            f"<Deliveries {len(self.messages)} up to tag {self.last_tag} "
            f"generation {self.generation}{' settled' if self.settled else ''}>"
        )


class StaleCount:
    """How many deliveries were not settled because their channel was gone (per source)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class ChannelSettlement:
    """Acks/nacks of one consuming channel: sent in order, several batches per write."""

    def __init__(
        self, channel: AbstractChannel, generation: int, where: str, stale: StaleCount | None = None
    ) -> None:
        self.channel = channel
        self.generation = generation
        self.where = where
        self.open: deque[Deliveries] = deque()  # handed over, not settled, in tag order
        self.stale = stale if stale is not None else StaleCount()
        self._frames: list[Any] = []
        self._writer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def alive(self) -> bool:
        """True while the channel is open (its delivery tags still mean something)."""
        return not self.channel.is_closed

    def track(self, deliveries: Deliveries) -> None:
        """Register a batch about to be handed over (in tag order)."""
        self.open.append(deliveries)

    def ack(self, deliveries: Deliveries) -> int:
        """Acknowledge a batch; returns how many deliveries were acknowledged (0 if stale)."""
        if deliveries.settled:
            return 0
        if not self._usable(deliveries):
            return 0
        self._trim()
        if self.open and self.open[0] is deliveries:
            self._frames.append(spec.Basic.Ack(delivery_tag=deliveries.last_tag, multiple=True))
        else:
            self._frames.extend(spec.Basic.Ack(delivery_tag=tag) for tag in deliveries.tags())
        self._settled(deliveries)
        return len(deliveries.messages)

    def settle_each(
        self,
        deliveries: Deliveries,
        decide: Callable[[DeliveredMessage], bool | None],
    ) -> None:
        """Settle a batch per message: `decide` gives True (ack), None (requeue), False (reject)."""
        if deliveries.settled or not self._usable(deliveries):
            return
        for message in deliveries.messages:
            tag = delivery_tag(message)
            verdict = decide(message)
            if verdict is True:
                self._frames.append(spec.Basic.Ack(delivery_tag=tag))
            elif verdict is None:
                self._frames.append(spec.Basic.Nack(delivery_tag=tag, requeue=True))
            else:
                self._frames.append(spec.Basic.Reject(delivery_tag=tag, requeue=False))
        self._settled(deliveries)

    def settle_tags(self, tags: list[int], verdict: bool | None) -> None:
        """Settle deliveries never handed over (True ack, None requeue, False reject to the DLX)."""
        if not tags or not self.alive:
            return
        for tag in tags:
            if verdict is True:
                self._frames.append(spec.Basic.Ack(delivery_tag=tag))
            elif verdict is None:
                self._frames.append(spec.Basic.Nack(delivery_tag=tag, requeue=True))
            else:
                self._frames.append(spec.Basic.Reject(delivery_tag=tag, requeue=False))
        self._send()

    async def flush(self) -> None:
        """Wait until every queued frame is written (or the channel is gone)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._idle.wait())

    # -- internals --------------------------------------------------------------------------

    def _usable(self, deliveries: Deliveries) -> bool:
        if self.alive:
            return True
        # A stale tag on a new channel would settle another message: never send it.
        deliveries.settled = True
        self.stale.count += len(deliveries.messages)
        L.debug(
            "%s: %d deliveries of a closed channel not settled; the broker delivers them again",
            self.where,
            len(deliveries.messages),
        )
        return False

    def _settled(self, deliveries: Deliveries) -> None:
        deliveries.settled = True
        self._trim()
        self._send()

    def _trim(self) -> None:
        open_ = self.open
        while open_ and open_[0].settled:
            open_.popleft()

    def _send(self) -> None:
        if not self._frames:
            return
        if self._writer is None or self._writer.done():
            queue = getattr(self.channel, "write_queue", None)
            if queue is not None and not queue.full():
                frames, self._frames = self._frames, []
                queue.put_nowait(self._marshal(frames))
                return
            self._idle.clear()
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def _marshal(self, frames: list[Any]) -> ChannelFrame:
        return ChannelFrame.marshall(channel_number=self.channel.number, frames=frames)

    async def _write(self) -> None:
        try:
            while self._frames:
                frames, self._frames = self._frames, []
                if not self.alive:
                    return  # the channel died meanwhile: the broker delivers those again
                await self.channel.write_queue.put(self._marshal(frames))  # type: ignore[attr-defined]
        except Exception:
            L.warning("%s: sending acknowledgements failed", self.where, exc_info=True)
        finally:
            self._idle.set()
