"""State backends: where checkpoints are written and where state is restored from.

A checkpoint of one processor's partition is a *chunk*: the pickled dict of the keys set since
the previous checkpoint and the list of keys deleted (a delta), or, now and then, the whole
partition (a base, which replaces every chunk before it). Writing a chunk costs one
`pickle.dumps` of the changed keys in the event loop and one row in the backend, whatever the
number of keys; restoring reads the last base and the deltas after it.
"""

from __future__ import annotations

import asyncio
import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class PartitionChanges:
    """What one checkpoint writes for one processor's partition."""

    processor: str
    partition: str
    #: The chunk: pickled `(values, deleted keys)`, or None when only positions changed.
    data: bytes | None = None
    #: True when `data` is the whole partition (every earlier chunk is replaced).
    base: bool = False
    #: Stream → the last position the state reflects (only streams that advanced).
    positions: dict[str, int] = field(default_factory=dict)
    #: Streams whose positions are no longer needed (a finished file).
    forget_streams: list[str] = field(default_factory=list)
    #: The chunk's number: one more than the partition's previous chunk's, wherever written.
    seq: int = 0


@dataclass
class Snapshot:
    """One checkpoint: every partition change, written at once (all or nothing)."""

    changes: list[PartitionChanges] = field(default_factory=list)


@dataclass
class Restored:
    """The state of one processor's partition as of the last durable checkpoint."""

    #: The last base chunk (if any) and the deltas after it, oldest first.
    chunks: list[bytes] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    #: The number of the last chunk (-1: none).
    seq: int = -1
    #: True when the next chunk must be a base (restored from elsewhere than where it writes).
    needs_base: bool = False

    def values(self) -> dict[Any, Any]:
        """The partition's keys and values: the chunks applied in order."""
        data: dict[Any, Any] = {}
        for chunk in self.chunks:
            values, deleted = pickle.loads(chunk)
            data.update(values)
            for key in deleted:
                data.pop(key, None)
        return data


def encode_chunk(values: dict[Any, Any], deleted: list[Any]) -> bytes:
    """A chunk of values set and keys deleted."""
    return pickle.dumps((values, deleted), protocol=5)


class StateBackend(ABC):
    """Keeps checkpoints. The synchronous methods run in a worker thread, one at a time; the
    pipeline calls the `*_async` ones, which a backend doing network I/O overrides."""

    #: True when a written checkpoint survives the process (a crash, SIGKILL).
    durable: ClassVar[bool] = True

    @abstractmethod
    def open(self, pipeline_id: str) -> None:
        """Open (create) the store of pipeline `pipeline_id`."""

    @abstractmethod
    def load(self, processor: str, partition: str) -> Restored:
        """The last checkpoint of one processor's partition (empty when there is none)."""

    @abstractmethod
    def write(self, snapshot: Snapshot) -> None:
        """Write a checkpoint atomically; when this returns it is durable."""

    def close(self) -> None:  # noqa: B027 - optional: most backends have nothing to close
        """Release files and connections."""

    def describe(self) -> str:
        """Where the checkpoints go, for log lines."""
        return type(self).__name__

    async def open_async(self, pipeline_id: str) -> None:
        """`open` in a worker thread."""
        await asyncio.to_thread(self.open, pipeline_id)

    async def load_async(self, processor: str, partition: str) -> Restored:
        """`load` in a worker thread (the values decoded there too)."""
        restored = await asyncio.to_thread(self.load, processor, partition)
        return restored

    async def write_async(self, snapshot: Snapshot) -> None:
        """`write` in a worker thread."""
        await asyncio.to_thread(self.write, snapshot)

    async def close_async(self) -> None:
        """`close` in a worker thread."""
        await asyncio.to_thread(self.close)


class MemoryBackend(StateBackend):
    """Checkpoints in this process's memory: fast, and gone with the process.

    A pipeline restarted in the same process with the same instance restores from it; after a
    crash there is nothing to restore, so state restarts empty (use SQLite to survive that).
    """

    durable = False

    def __init__(self) -> None:
        self._chunks: dict[tuple[str, str], list[bytes]] = {}
        self._positions: dict[tuple[str, str], dict[str, int]] = {}
        self._seqs: dict[tuple[str, str], int] = {}

    def open(self, pipeline_id: str) -> None:
        """Nothing to open."""

    def load(self, processor: str, partition: str) -> Restored:
        """What the checkpoints wrote."""
        where = (processor, partition)
        return Restored(
            list(self._chunks.get(where, [])),
            dict(self._positions.get(where, {})),
            self._seqs.get(where, -1),
        )

    def write(self, snapshot: Snapshot) -> None:
        """Keep the chunks and positions."""
        for change in snapshot.changes:
            where = (change.processor, change.partition)
            if change.data is not None:
                if change.base:
                    self._chunks[where] = [change.data]
                else:
                    self._chunks.setdefault(where, []).append(change.data)
                self._seqs[where] = change.seq
            positions = self._positions.setdefault(where, {})
            positions.update(change.positions)
            for stream in change.forget_streams:
                positions.pop(stream, None)

    def values(self, processor: str, partition: str) -> dict[Any, Any]:
        """The checkpointed keys and values of one processor's partition (for tests)."""
        return self.load(processor, partition).values()

    def partitions(self) -> list[tuple[str, str]]:
        """Every (processor, partition) with checkpointed values."""
        return [where for where, chunks in self._chunks.items() if chunks]

    def describe(self) -> str:
        return "memory (not durable)"
