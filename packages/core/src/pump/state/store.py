"""State: a stateful processor's keyed values, one key space per source partition."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pump.delivery import Batch
from pump.state.backend import PartitionChanges, Restored, encode_chunk

if TYPE_CHECKING:
    from pump.processor import Processor
    from pump.state.checkpoint import Checkpointer

L = logging.getLogger(__name__)


#: A partition is written whole again (a base) once the deltas since its last base add up to
#: more than the base itself, or to this many of them: restoring stays about one base long.
MAX_DELTAS = 256
#: Deltas smaller than this in total never make a new base.
MIN_COMPACT_BYTES = 1 << 20


class Partition:
    """One partition's values of one processor, and the stream positions they reflect."""

    __slots__ = (
        "advanced",
        "applied",
        "base_bytes",
        "changed",
        "data",
        "delta_bytes",
        "deltas",
        "forgotten",
        "name",
        "needs_base",
        "replayed",
        "restored",
        "seq",
    )

    def __init__(
        self,
        name: str,
        data: dict[Any, Any],
        restored: dict[str, int],
        chunks: list[bytes],
        seq: int = -1,
    ) -> None:
        self.name = name
        #: Key → value (the values a processor reads and writes).
        self.data = data
        #: Keys set or deleted since the last checkpoint.
        self.changed: set[Any] = set()
        #: Stream → the last position of the restored checkpoint (events up to it are replays).
        self.restored = restored
        #: Stream → the last position applied (restored, then advanced by processing).
        self.applied: dict[str, int] = dict(restored)
        #: Streams whose position advanced since the last checkpoint.
        self.advanced: set[str] = set()
        #: Streams to drop from the checkpoint (their source will not replay them).
        self.forgotten: set[str] = set()
        #: Events given to `replay` (already in the restored state) since the last report.
        self.replayed = 0
        # what the backend holds: a base and deltas after it (decides when to write a base)
        self.base_bytes = len(chunks[0]) if chunks else 0
        self.delta_bytes = sum(len(c) for c in chunks[1:])
        self.deltas = max(0, len(chunks) - 1)
        self.needs_base = False
        #: The number of the last chunk written or restored.
        self.seq = seq

    def take_changes(self, processor: str) -> PartitionChanges | None:
        """The changes since the last checkpoint, encoded (and start the next), or None."""
        if not (self.changed or self.advanced or self.forgotten or self.needs_base):
            return None
        changes = PartitionChanges(processor, self.name)
        if self.changed or self.needs_base:
            data = self.data
            try:
                changed = self.changed
                if self.needs_base or 2 * len(changed) >= len(data) or self._compact_due():
                    # most keys changed: the whole dict pickles faster than picking them out
                    changes.data = encode_chunk(data, [])
                    changes.base = True
                else:
                    present = changed & data.keys()
                    values = {key: data[key] for key in present}
                    changes.data = encode_chunk(values, list(changed - present))
            except Exception as exc:
                raise TypeError(
                    f"the state of partition '{self.name}' cannot be stored: "
                    f"{type(exc).__name__}: {exc} (keys and values must be picklable)"
                ) from exc
            self.seq += 1
            changes.seq = self.seq
            if changes.base:
                self.base_bytes, self.delta_bytes, self.deltas = len(changes.data), 0, 0
                self.needs_base = False
            else:
                self.delta_bytes += len(changes.data)
                self.deltas += 1
        applied = self.applied
        if changes.base:  # whole: every position too (its reader may start from it)
            changes.positions = dict(applied)
        else:
            changes.positions = {s: applied[s] for s in self.advanced if s in applied}
        changes.forget_streams = list(self.forgotten)
        self.changed = set()
        self.advanced = set()
        self.forgotten = set()
        return changes

    def _compact_due(self) -> bool:
        if self.deltas >= MAX_DELTAS:
            return True
        return self.delta_bytes >= max(self.base_bytes, MIN_COMPACT_BYTES)


class State:
    """The keyed state of one stateful processor (`self.state`), scoped to a partition.

    Before a batch reaches the processor the pipeline switches the state to that batch's
    source partition (a Kafka topic-partition; "" when the source has none), so keys of
    different partitions never mix and a partition's state can move to another process.
    `get` is the partition dict's own `get`; `set` and `delete` are a dict write plus a
    set insertion. A checkpoint writes only the keys changed since the previous one.

    Batch code may use `data` (the partition's dict) directly; after writing to it, add the
    key to `changed` (that is all `set` does). Values mutated in place must be `set` again
    (or `touch`ed), or the checkpoint does not see the change. Keys and values must be
    picklable.
    """

    __slots__ = (
        "_checkpointer",
        "_current",
        "_partitions",
        "changed",
        "data",
        "get",
        "partition",
        "processor",
        "replay_field",
        "replay_upto",
    )

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self._checkpointer: Checkpointer | None = None
        self._partitions: dict[str, Partition] = {}
        #: During a replay: the context key of positions, and the restored position.
        self.replay_field = ""
        self.replay_upto = 0
        #: The current partition's name.
        self.partition = ""
        self._switch(self._load(""))

    # -- the per-event API ------------------------------------------------------------------

    def set(self, key: Any, value: Any) -> None:
        """Set `key` in the current partition."""
        self.data[key] = value
        self.changed.add(key)

    def delete(self, key: Any) -> None:
        """Remove `key` from the current partition (no error when it is not there)."""
        self.data.pop(key, None)
        self.changed.add(key)

    def touch(self, key: Any) -> None:
        """Mark `key` changed (its value was mutated in place)."""
        self.changed.add(key)

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value
        self.changed.add(key)

    def __delitem__(self, key: Any) -> None:
        del self.data[key]
        self.changed.add(key)

    def __contains__(self, key: Any) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """The current partition's (key, value) pairs."""
        return iter(self.data.items())

    # -- partitions -------------------------------------------------------------------------

    def use(self, partition: str) -> None:
        """Make `partition` current (loading it from the last checkpoint on first use)."""
        if partition == self.partition:
            return
        loaded = self._partitions.get(partition)
        if loaded is None:
            loaded = self._load(partition)
        self._switch(loaded)

    def partitions(self) -> list[str]:
        """Names of the partitions held in memory (for timers that visit every partition)."""
        return list(self._partitions)

    def _switch(self, partition: Partition) -> None:
        self._current = partition
        self.partition = partition.name
        self.data = partition.data
        self.changed = partition.changed
        self.get = partition.data.get

    def _load(self, name: str) -> Partition:
        restored = Restored()
        checkpointer = self._checkpointer
        if checkpointer is not None:
            restored = checkpointer.load(self.processor.Id, name)
        return self.adopt(name, restored, self._decode(name, restored))

    def _decode(self, name: str, restored: Restored) -> dict[Any, Any]:
        try:
            return restored.values()
        except Exception as exc:
            raise RuntimeError(
                f"{self.processor.location()}: the checkpointed state of partition '{name}' "
                f"cannot be read: {type(exc).__name__}: {exc}"
            ) from exc

    def adopt(self, name: str, restored: Restored, data: dict[Any, Any]) -> Partition:
        """Hold partition `name` as restored (read ahead of its first batch), unless it is held
        already; tells the processor (`state_loaded`)."""
        held = self._partitions.get(name)
        if held is not None:
            return held
        partition = Partition(name, data, restored.positions, restored.chunks, restored.seq)
        partition.needs_base = restored.needs_base
        self._partitions[name] = partition
        if data or restored.positions:
            L.info(
                "%s: partition '%s' restored: %d key(s), positions %s",
                self.processor.location(),
                name or '""',
                len(data),
                restored.positions or "none",
            )
        if self._checkpointer is not None:  # started: restored from a checkpoint
            self.processor.state_loaded(name)
        return partition

    def drop(self, partitions: list[str]) -> None:
        """Forget partitions held in memory (revoked; reloaded from the checkpoint if needed)."""
        for name in partitions:
            self._partitions.pop(name, None)
        if self.partition in partitions or self.partition not in self._partitions:
            self.partition = "\0"  # none current: the next use() loads
            self._switch(self._partitions.get("") or self._load(""))

    def forget_stream(self, stream: str) -> None:
        """Drop `stream`'s position from every partition's next checkpoint (it will not replay)."""
        for partition in self._partitions.values():
            partition.restored.pop(stream, None)
            if partition.applied.pop(stream, None) is not None:
                partition.advanced.discard(stream)
                partition.forgotten.add(stream)

    # -- checkpoints (called by the Checkpointer) --------------------------------------------

    def bind(self, checkpointer: Checkpointer | None) -> None:
        """Attach to the pipeline's checkpointer; the partitions are reloaded from it."""
        self._checkpointer = checkpointer
        self._partitions.clear()
        self.partition = "\0"
        self._switch(self._load(""))

    def take_changes(self) -> list[PartitionChanges]:
        """Every partition's changes since the last checkpoint."""
        changes = []
        for partition in self._partitions.values():
            change = partition.take_changes(self.processor.Id)
            if change is not None:
                changes.append(change)
        # the current partition's set was replaced: rebind the shortcuts
        self.changed = self._current.changed
        return changes

    def partition_named(self, name: str) -> Partition:
        """The partition called `name` (loaded if needed), without making it current."""
        partition = self._partitions.get(name)
        return partition if partition is not None else self._load(name)

    def held(self) -> frozenset[str]:
        """Names of the partitions held in memory."""
        return frozenset(self._partitions)

    # -- the dispatcher's hook ----------------------------------------------------------------

    def enter(self, batch: Batch, contexts: Sequence[dict[str, Any]] | None, n: int) -> bool:
        """A batch reaches the processor: switch partition, hold the batch for the checkpoint.

        Returns True when some of its events are already reflected in the restored state
        (a replay after recovery): the pipeline then calls `gate` for each event.
        """
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.hold(batch, n)
        source = batch.source
        position = None
        if source is not None and contexts:
            position = source.stream_position(batch, contexts)
        if position is None:
            if self.partition:
                self.use("")
            return False
        if position.partition != self.partition:
            self.use(position.partition)
        partition = self._current
        stream = position.stream
        if partition.applied.get(stream, -1) < position.last:
            partition.applied[stream] = position.last
            partition.advanced.add(stream)
        upto = partition.restored.get(stream)
        if upto is not None:
            if position.first <= upto:
                self.replay_upto, self.replay_field = upto, position.field
                return True
            # past the checkpoint: what comes later is new (a truncated file starts over)
            del partition.restored[stream]
            self._replay_over(partition, stream, upto)
        return False

    def _replay_over(self, partition: Partition, stream: str, upto: int) -> None:
        L.info(
            "%s: partition '%s' stream '%s': %d replayed event(s) at or before position %d were "
            "already in the restored state (not applied again)",
            self.processor.location(),
            partition.name,
            stream,
            partition.replayed,
            upto,
        )
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.replayed += partition.replayed
        partition.replayed = 0

    def count_replayed(self, n: int) -> None:
        """`n` events of the current partition went to `replay`."""
        self._current.replayed += n

    def gate(self, context: dict[str, Any], event: Any) -> Any:
        """During a replay: `replay` for events the restored state reflects, else `process`."""
        where = context.get(self.replay_field) if context else None
        if where is not None and where <= self.replay_upto:
            self._current.replayed += 1
            return self.processor.replay(context, event)
        return self.processor.process(context, event)

    def emit(self, events: list[Any], contexts: list[dict[str, Any]] | None = None) -> None:
        """Send events made from the state (a closed window) on, after this processor.

        The next checkpoint is written only once they are done, so an output whose state
        was checkpointed away is never lost (it is written again after a crash instead).
        """
        processor = self.processor
        pipeline = processor.Pipeline
        if pipeline is None or not events:
            return
        depth = pipeline.Processors.index(processor) + 1
        if contexts is None:
            contexts = [{} for _ in events]
        parent = pipeline.current_batch
        if parent is None:
            checkpointer = self._checkpointer
            parent = (
                checkpointer.output_parent()
                if checkpointer is not None
                else Batch(0, lambda batch: None)
            )
        pipeline.inject_batch(events, contexts, depth, parents=[parent.hold()])

    def __repr__(self) -> str:
        return (
            f"<State of {self.processor.Id!r} partition={self.partition!r} "
            f"keys={len(self.data)} partitions={len(self._partitions)}>"
        )
