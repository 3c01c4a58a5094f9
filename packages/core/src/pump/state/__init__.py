"""Keyed state and checkpoints for stateful processors (docs/state.md).

A processor declares `stateful = True` and reads and writes `self.state`: keyed values, one
key space per source partition, checkpointed with the source positions they reflect. Events
that reach it are acknowledged once a checkpoint holding their effect is durable; after a
crash the state is restored from the last checkpoint and replayed events it already reflects
are given to `replay` instead of `process`.
"""

from __future__ import annotations

from pump.state.backend import MemoryBackend, PartitionChanges, Restored, Snapshot, StateBackend
from pump.state.checkpoint import Checkpointer, CheckpointFailed
from pump.state.position import StreamPosition
from pump.state.store import Partition, State

__all__ = [
    "CheckpointFailed",
    "Checkpointer",
    "MemoryBackend",
    "Partition",
    "PartitionChanges",
    "Restored",
    "Snapshot",
    "State",
    "StateBackend",
    "StreamPosition",
]
