"""State backends: where checkpoints are written and where state is restored from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class PartitionChanges:
    """What one checkpoint changes in the state of one processor's partition (encoded)."""

    processor: str
    partition: str
    #: Encoded key → encoded value, set since the previous checkpoint.
    upserts: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: Encoded keys deleted since the previous checkpoint.
    deletes: list[bytes] = field(default_factory=list)
    #: Stream → the last position the state reflects (only streams that advanced).
    positions: dict[str, int] = field(default_factory=dict)
    #: Streams whose positions are no longer needed (a finished file).
    forget_streams: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    """One checkpoint: every partition change, written at once (all or nothing)."""

    changes: list[PartitionChanges] = field(default_factory=list)


@dataclass
class Restored:
    """The state of one processor's partition as of the last durable checkpoint."""

    rows: dict[bytes, bytes] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)


class StateBackend(ABC):
    """Keeps checkpoints. Methods are called from a worker thread, one at a time."""

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


class MemoryBackend(StateBackend):
    """Checkpoints in this process's memory: fast, and gone with the process.

    A pipeline restarted in the same process with the same instance restores from it; after a
    crash there is nothing to restore, so state restarts empty (use SQLite to survive that).
    """

    durable = False

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], dict[bytes, bytes]] = {}
        self._positions: dict[tuple[str, str], dict[str, int]] = {}

    def open(self, pipeline_id: str) -> None:
        """Nothing to open."""

    def load(self, processor: str, partition: str) -> Restored:
        """A copy of what the last checkpoint wrote."""
        where = (processor, partition)
        return Restored(dict(self._rows.get(where, {})), dict(self._positions.get(where, {})))

    def write(self, snapshot: Snapshot) -> None:
        """Apply the changes to the in-memory copy."""
        for change in snapshot.changes:
            where = (change.processor, change.partition)
            rows = self._rows.setdefault(where, {})
            rows.update(change.upserts)
            for key in change.deletes:
                rows.pop(key, None)
            positions = self._positions.setdefault(where, {})
            positions.update(change.positions)
            for stream in change.forget_streams:
                positions.pop(stream, None)

    def describe(self) -> str:
        return "memory (not durable)"
