"""Completion tracking: a Batch counts outstanding work; a CommitTracker gives commit positions."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any


class Batch:
    """Events handed over together by a source; done when every one of them is done.

    `pending` counts outstanding units of work (sink writes, dead-letter writes, generator
    runs, holds) rather than events, so completion costs a few integer operations per batch.
    """

    __slots__ = (
        "_on_complete",
        "_on_settled",
        "absorbed",
        "checkpoint_holds",
        "failed",
        "pending",
        "size",
        "source",
        "token",
    )

    def __init__(
        self,
        size: int,
        on_complete: Callable[[Batch], None],
        source: Any = None,
        token: Any = None,
    ) -> None:
        self.size = size
        self.source = source
        self.token = token
        self.failed = False
        #: Events of it absorbed into state: no longer in flight, acknowledged at a checkpoint.
        self.absorbed = 0
        #: Holds of checkpoints (pump.state): released when a checkpoint after it is durable.
        self.checkpoint_holds = 0
        self.pending = 1  # the dispatch itself; released once dispatching is over
        self._on_complete = on_complete
        self._on_settled: Callable[[Batch], None] | None = None

    def hold(self) -> Batch:
        """Keep the batch open until a matching `done()`; returns the batch."""
        self.pending += 1
        return self

    def done(self) -> None:
        """One unit of outstanding work finished."""
        self.pending -= 1
        if self.pending == 0:
            self._on_complete(self)
        elif self.pending == self.checkpoint_holds and self._on_settled is not None:
            self._on_settled(self)  # done but for the checkpoint: nothing of it is in flight

    def hold_for_checkpoint(self, on_settled: Callable[[Batch], None] | None) -> None:
        """Hold the batch until a checkpoint releases it (`release_checkpoint`).

        `on_settled(batch)` is called when nothing but checkpoint holds is left outstanding.
        """
        self.pending += 1
        self.checkpoint_holds += 1
        self._on_settled = on_settled

    def count_as_checkpoint_hold(self, on_settled: Callable[[Batch], None] | None) -> None:
        """One unit already outstanding (a routed copy's) waits only for a checkpoint now."""
        self.checkpoint_holds += 1
        if self._on_settled is None:
            self._on_settled = on_settled
        if self.pending == self.checkpoint_holds and self._on_settled is not None:
            self._on_settled(self)

    def release_checkpoint(self) -> None:
        """A checkpoint holding the batch is durable: release one checkpoint hold."""
        if self.pending <= 0:
            return  # rejected meanwhile (the pipeline stopped and abandoned it)
        self.checkpoint_holds -= 1
        self.done()

    @property
    def settled(self) -> bool:
        """True when nothing but checkpoint holds is outstanding."""
        return self.pending == self.checkpoint_holds

    def fail(self) -> None:
        """Mark the batch as not acknowledgeable (an event of it failed and was not handled)."""
        self.failed = True

    def __repr__(self) -> str:
        return f"<Batch size={self.size} pending={self.pending} failed={self.failed}>"


def release_parents(parents: list[Batch]) -> Callable[[Batch], None]:
    """Completion callback for a derived batch (an aggregate, a routed copy): finish its parents."""

    def complete(batch: Batch) -> None:
        for parent in parents:
            if batch.failed:
                parent.failed = True
            parent.done()

    return complete


class CommitTracker:
    """Per partition, the position up to which every handed-out range is done.

    Ranges are registered in the order they are handed out (`begin`) and marked done in any
    order (`end`); `committable()` returns, per partition, one past the last offset of the
    longest done prefix — never past a range still in flight (Kafka's commit semantics).
    """

    def __init__(self) -> None:
        self._ranges: dict[Hashable, deque[list[Any]]] = {}
        self._positions: dict[Hashable, int] = {}
        self._dirty: set[Hashable] = set()

    def begin(self, partition: Hashable, first: int, last: int) -> list[Any]:
        """Register offsets first..last (inclusive) as in flight; returns a handle for `end`."""
        handle = [partition, last, False]
        self._ranges.setdefault(partition, deque()).append(handle)
        return handle

    def end(self, handle: list[Any]) -> None:
        """Mark a range done and advance its partition's position over the done prefix."""
        handle[2] = True
        partition = handle[0]
        ranges = self._ranges.get(partition)
        if not ranges:
            return
        advanced = False
        while ranges and ranges[0][2]:
            self._positions[partition] = ranges.popleft()[1] + 1
            advanced = True
        if advanced:
            self._dirty.add(partition)

    def committable(self) -> dict[Hashable, int]:
        """Positions that advanced since the last call, and forget that they did (commit them).

        Each advanced position is returned once; use `peek()` to look without consuming.
        """
        out = {p: self._positions[p] for p in self._dirty}
        self._dirty.clear()
        return out

    def peek(self) -> dict[Hashable, int]:
        """Every partition's current position, without consuming what `committable()` returns."""
        return dict(self._positions)

    def position(self, partition: Hashable) -> int | None:
        """The current commit position of a partition, if any range of it is done."""
        return self._positions.get(partition)

    def in_flight(self, partition: Hashable | None = None) -> int:
        """Ranges not yet done (of one partition, or all)."""
        if partition is not None:
            return sum(1 for r in self._ranges.get(partition, ()) if not r[2])
        return sum(1 for rs in self._ranges.values() for r in rs if not r[2])

    def forget(self, partition: Hashable) -> None:
        """Drop a partition (revoked): its ranges will never be committed by this tracker."""
        self._ranges.pop(partition, None)
        self._positions.pop(partition, None)
        self._dirty.discard(partition)


class PositionTrail:
    """Where a source that reads in order is done: the position of the done prefix of its runs.

    A source hands over runs of events, each reaching a position (a time, the last row's key,
    a binlog commit). `hand_over(count, position)` numbers the run's events and returns the
    token its batch carries; `done(token)`, from `acknowledge`, returns the position to save:
    that of the furthest run which is done with every run before it, or None when that did
    not move. A run may reach no position (None: it moves nothing) or reach one later
    (`reach()`); a run of no events only marks a position.
    """

    def __init__(self) -> None:
        self._tracker = CommitTracker()
        self._next = 0
        #: [number of a run's last event, the position it reaches], oldest first
        self._ends: deque[list[Any]] = deque()

    def hand_over(self, count: int, position: Any) -> list[Any] | None:
        """Number a run of `count` events reaching `position`; its batch's token (None: empty)."""
        first = self._next
        self._next += count
        token = self._tracker.begin("run", first, self._next - 1) if count else None
        self._ends.append([self._next - 1, position])
        return token

    def reach(self, position: Any) -> bool:
        """Every run handed over so far reaches `position`; True when all of it is done."""
        if self._ends:
            self._ends[-1][1] = position
            return False
        return self._tracker.in_flight() == 0

    def done(self, token: list[Any]) -> Any:
        """The run of `token` is done: the position the done prefix now reaches, or None."""
        self._tracker.end(token)
        done = self._tracker.committable().get("run")
        if done is None:
            return None
        position = None
        while self._ends and self._ends[0][0] < done:
            reached = self._ends.popleft()[1]
            if reached is not None:
                position = reached
        return position
