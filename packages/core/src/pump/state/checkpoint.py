"""Checkpointer: writes a pipeline's state with the positions it reflects, then acknowledges.

An event that reaches a stateful processor is not acknowledged to its source when the pipeline
is done with it, but when a checkpoint holding its effect is durable: each batch that reaches a
stateful processor is held (one `Batch.hold()` per batch and checkpoint), and released once the
checkpoint after it is written. Events a stateful processor absorbs (returns None for) stop
counting against `max_in_flight` at once, so a window longer than the bound never stalls.

A checkpoint (every `checkpoint_interval` seconds, every `checkpoint_events` events, when
partitions are revoked, and at stop):
1. takes the changed keys and advanced stream positions of every stateful processor, and the
   batches held since the previous checkpoint — all in one step of the event loop;
2. waits until those batches have nothing outstanding but the checkpoint's own holds (their
   outputs written, dead letters written), so every event at or below a checkpointed position
   is either in the state or done — a replay may then skip it;
3. writes the changes in a worker thread (one transaction);
4. releases the holds: the sources acknowledge and commit.
A batch that failed (the pipeline stops) stops checkpointing: nothing written after it, so a
restart restores the last good checkpoint and the source replays from its committed position.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from typing import TYPE_CHECKING, Any

from pump.delivery import Batch
from pump.ratelimit import RateLimitedLog
from pump.state.backend import PartitionChanges, Restored, Snapshot, StateBackend
from pump.taskgroup import TaskGroup
from pump.waiting import wait_event

if TYPE_CHECKING:
    from pump.pipeline import Pipeline
    from pump.state.store import State

L = logging.getLogger(__name__)

# How often a checkpoint looks again whether its batches have settled (seconds, growing).
_SETTLE_POLL = (0.001, 0.05)


class CheckpointFailed(Exception):
    """A checkpoint cannot be written (a batch of it failed, or the state cannot be encoded)."""


def _noop(batch: Batch) -> None:
    return None


class Checkpointer:
    """Takes, writes and acknowledges the checkpoints of one pipeline's stateful processors."""

    def __init__(
        self,
        pipeline: Pipeline,
        backend: StateBackend,
        states: list[State],
        interval: float,
        events: int,
    ) -> None:
        self.pipeline = pipeline
        self.backend = backend
        self.states = states
        self.interval = interval
        self.events = events
        #: The last batch held (the dispatcher enters each processor with it, once per batch).
        self.last_batch: Batch | None = None
        self._epoch: list[Batch] = []
        self._epoch_set: set[Batch] = set()
        self._output_parent: Batch | None = None
        self._counted = 0  # events entered since the last checkpoint
        self._due = time.monotonic() + interval  # when the next checkpoint is due by time
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks = TaskGroup(f"pipeline '{pipeline.Id}' checkpoints")
        self._throttled = False
        self._broken: str | None = None
        self._failures = RateLimitedLog(L, 10.0)
        #: Replayed events that were already in the restored state (not applied again).
        self.replayed = 0
        #: Checkpoints written, and how long the last one took (seconds).
        self.written = 0
        self.last_duration = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the backend, restore the stateful processors, start the periodic checkpoints."""
        try:
            await self.backend.open_async(self.pipeline.Id)
        except Exception as exc:
            raise type(exc)(f"pipeline '{self.pipeline.Id}': {exc}") from exc
        for state in self.states:
            state.bind(self)
        self._tasks.spawn(self._periodically())

    async def halt(self) -> None:
        """Take no more checkpoints (the pipeline rejects what is left unfinished)."""
        self._broken = self._broken or "the pipeline stopped"
        await self._tasks.cancel()

    async def stop(self) -> None:
        """Stop the periodic checkpoints and close the backend (take the final one first)."""
        await self.halt()
        try:
            await self._write_forgotten()
        except Exception as exc:  # only bookkeeping is lost: a stale position, never used
            L.warning("pipeline '%s': %s: %s", self.pipeline.Id, type(exc).__name__, exc)
        if self._throttled:
            self._throttled = False
            self.pipeline.throttle(self, False)
        for state in self.states:
            state.bind(None)
        await self.backend.close_async()

    def load(self, processor: str, partition: str) -> Restored:
        """The last checkpoint of a processor's partition (read synchronously, on first use)."""
        return self.backend.load(processor, partition)

    # -- the event path -------------------------------------------------------------------------

    def hold(self, batch: Batch, n: int) -> None:
        """Keep `batch` unacknowledged until the next checkpoint is durable."""
        if batch is self.last_batch:
            return
        self.last_batch = batch
        if batch in self._epoch_set:
            return
        self._epoch_set.add(batch)
        self._epoch.append(batch)
        batch.hold_for_checkpoint(self.pipeline.settled)
        self._counted += n
        if (
            (self._counted >= self.events or time.monotonic() >= self._due)
            and not self._throttled
            and self._broken is None
        ):
            # A checkpoint is due. A source whose events are all absorbed never waits for
            # the pipeline, and may hand over batch after batch without giving the event loop
            # to the checkpoint: hold the sources until the checkpoint has taken its changes
            # (or, while the previous one is still being written, until that is done).
            self._throttled = True
            self.pipeline.throttle(self)
            self._wake.set()

    def output_parent(self) -> Batch:
        """A batch standing for outputs emitted outside any batch (a timer closing a window)."""
        parent = self._output_parent
        if parent is None:
            parent = self._output_parent = Batch(0, _noop)
            parent.checkpoint_holds = 1  # its dispatch unit stands for our hold
            self._epoch.append(parent)
            self._epoch_set.add(parent)
        return parent

    def request(self) -> None:
        """Take a checkpoint soon (the sources have finished: acknowledge what they handed over)."""
        self._wake.set()

    # -- checkpoints ------------------------------------------------------------------------------

    async def _periodically(self) -> None:
        while True:
            await wait_event(self._wake, self.interval)
            self._wake.clear()
            if self._broken is not None:
                return
            try:
                await self.checkpoint()
            except CheckpointFailed:
                return
            except Exception as exc:  # the backend failed: keep the state, try again later
                self._failures.error(
                    "pipeline '%s': writing a checkpoint failed: %s: %s (retrying)",
                    self.pipeline.Id,
                    type(exc).__name__,
                    exc,
                )
                self.pipeline.report_error(self.pipeline.sink, exc)
                await asyncio.sleep(min(self.interval, 5.0))

    async def checkpoint(self, timeout: float | None = None) -> bool:
        """Take a checkpoint now (after the one being written); True when one was written.

        `timeout` bounds the wait for the checkpoint's batches to settle; past it nothing is
        written (the batches stay held for the next one) and False is returned.
        """
        if self._broken is not None:
            return False
        async with self._lock:
            return await self._checkpoint(timeout)

    async def _checkpoint(self, timeout: float | None) -> bool:
        started = time.monotonic()
        batches, snapshot = self._take()
        if not batches and not snapshot.changes:
            return False
        try:
            if batches and not await self._settled(batches, timeout):
                self._put_back(batches, snapshot)
                return False
            await self._write(snapshot)
        except CheckpointFailed as exc:
            self._broken = str(exc)
            L.error("pipeline '%s': checkpoints stopped: %s", self.pipeline.Id, exc)
            raise
        except BaseException:
            self._put_back(batches, snapshot, maybe_written=True)
            raise
        self._release(batches)
        self.written += 1
        self.last_duration = time.monotonic() - started
        return True

    def _take(self) -> tuple[list[Batch], Snapshot]:
        """Take the held batches and the state's changes, all at once (no await in between)."""
        snapshot = Snapshot()
        try:
            for state in self.states:
                snapshot.changes += state.take_changes()
        except TypeError as exc:
            raise CheckpointFailed(str(exc)) from exc
        batches, self._epoch = self._epoch, []
        self._epoch_set = set()
        self._output_parent = None
        self.last_batch = None
        self._counted = 0
        self._due = time.monotonic() + self.interval
        if self._throttled:  # taken: the sources may go on while it is written
            self._throttled = False
            self.pipeline.throttle(self, False)
        return batches, snapshot

    def _put_back(
        self, batches: list[Batch], snapshot: Snapshot, maybe_written: bool = False
    ) -> None:
        """A checkpoint was not written: its batches and changes go into the next one."""
        for batch in batches:
            if batch not in self._epoch_set:
                self._epoch_set.add(batch)
                self._epoch.append(batch)
            else:  # held again meanwhile: one hold is enough
                batch.release_checkpoint()
        self._merge_back(snapshot, maybe_written)

    def _merge_back(self, snapshot: Snapshot, maybe_written: bool) -> None:
        """Mark the snapshot's keys and positions changed again, so the next one writes them.

        A write that failed may have reached part of the backend (a local file but not a
        changelog): the next chunk of those partitions is then a whole one (a base)."""
        by_id = {state.processor.Id: state for state in self.states}
        for change in snapshot.changes:
            state = by_id.get(change.processor)
            if state is None or change.partition not in state.held():
                continue
            partition = state.partition_named(change.partition)
            if change.base or (maybe_written and change.data is not None):
                partition.needs_base = True
            elif change.data is not None:
                values, deleted = pickle.loads(change.data)
                partition.changed.update(values)
                partition.changed.update(deleted)
            partition.advanced.update(change.positions)
            partition.forgotten.update(change.forget_streams)

    async def _settled(self, batches: list[Batch], timeout: float | None) -> bool:
        """Wait until the batches have no outstanding work but checkpoint holds."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay, longest = _SETTLE_POLL
        waiting = batches
        while True:
            waiting = [b for b in waiting if b.pending != b.checkpoint_holds]
            for batch in waiting:
                if batch.failed:
                    raise CheckpointFailed(
                        "a batch of the checkpoint failed; the state is restored from the last "
                        "checkpoint after a restart and the source delivers the rest again"
                    )
            if not waiting:
                return True
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _write(self, snapshot: Snapshot) -> None:
        if not snapshot.changes:
            return
        # partitions released meanwhile (revoked) may belong to another process by now
        held = {(state.processor.Id, p) for state in self.states for p in state.held()}
        snapshot.changes = [c for c in snapshot.changes if (c.processor, c.partition) in held]
        await self.backend.write_async(snapshot)

    def _release(self, batches: list[Batch]) -> None:
        for batch in batches:
            if batch.pending > 0:  # else rejected meanwhile (the pipeline stopped)
                batch.release_checkpoint()

    # -- partitions --------------------------------------------------------------------------

    async def release_partitions(self, partitions: list[str], timeout: float | None) -> None:
        """Checkpoint, then drop `partitions` from memory (revoked: another process may own
        them next and restores them from the checkpoint)."""
        written = False
        try:
            written = await self.checkpoint(timeout)
        except Exception as exc:  # e.g. the backend failed: the drop below must happen anyway
            L.error(
                "pipeline '%s': the checkpoint of revoked partitions failed: %s: %s",
                self.pipeline.Id,
                type(exc).__name__,
                exc,
            )
        finally:
            if not written and any(p in s.held() for s in self.states for p in partitions):
                L.warning(
                    "pipeline '%s': partitions %s released without a final checkpoint; their "
                    "events since the last one are delivered again to the next owner",
                    self.pipeline.Id,
                    ", ".join(partitions),
                )
            # never write them again from here: they may belong to another process now
            for state in self.states:
                state.drop(partitions)

    async def _write_forgotten(self) -> None:
        """Drop the positions of streams finished since the last checkpoint (files done while
        the final checkpoint released them)."""
        snapshot = Snapshot()
        for state in self.states:
            for name in state.held():
                partition = state.partition_named(name)
                if partition.forgotten:
                    change = PartitionChanges(state.processor.Id, name)
                    change.forget_streams = list(partition.forgotten)
                    partition.forgotten = set()
                    snapshot.changes.append(change)
        if snapshot.changes:
            await self.backend.write_async(snapshot)

    async def load_partitions(self, partitions: list[str]) -> None:
        """Read the state of `partitions` now (assigned to this process), rather than when their
        first batch comes: a processor that visits every partition (windows closing on the
        watermark) then sees their state even if no more of their events ever come."""
        for state in self.states:
            for name in partitions:
                if name in state.held():
                    continue
                processor = state.processor.Id
                restored = await self.backend.load_async(processor, name)
                data = await asyncio.to_thread(restored.values)
                state.adopt(name, restored, data)

    def forget_stream(self, stream: str) -> None:
        """A source will never replay `stream` again (a finished file): drop its position."""
        for state in self.states:
            state.forget_stream(stream)

    def describe(self) -> dict[str, Any]:
        """What the checkpoints do, for metrics."""
        return {
            "backend": self.backend.describe(),
            "checkpoints": self.written,
            "last_checkpoint_seconds": round(self.last_duration, 4),
            "held_batches": len(self._epoch),
            "replayed": self.replayed,
            "stopped": self._broken,
        }
