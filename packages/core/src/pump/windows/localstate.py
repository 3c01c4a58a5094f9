"""Stand-in for `pump.state` until it is merged: one in-memory partition, no checkpoints."""

from __future__ import annotations

from typing import Any

from pump.delivery import Batch


class LocalState:
    """The subset of `pump.state.State` the windows use, held in memory."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.partition = ""
        self.data: dict[Any, Any] = {}
        self.changed: set[Any] = set()

    def partitions(self) -> list[str]:
        return [""]

    def partition_named(self, name: str) -> LocalState:
        return self

    def emit(self, events: list[Any], contexts: list[dict[str, Any]] | None = None) -> None:
        processor = self.processor
        pipeline = processor.Pipeline
        if pipeline is None or not events:
            return
        depth = pipeline.Processors.index(processor) + 1
        parent = pipeline.current_batch
        # outside a batch (a timer, the end of the input): a batch of its own, so that the
        # pipeline sees when the output is done
        parents = [parent.hold() if parent is not None else Batch(0, pipeline._complete)]
        if contexts is None:
            contexts = [{} for _ in events]
        pipeline.inject_batch(events, contexts, depth, parents=parents)

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value
        self.changed.add(key)
