"""Helpers of pump-file's tests: run a source or a sink in a real application on real files."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

import pump
from pump.common import IteratorSource
from pump.testing import CollectingSink


async def run_app(app: pump.Application, timeout: float = 20.0) -> int:
    """Run `app.main()` with a timeout, so a hang fails the test instead of freezing it."""
    return await asyncio.wait_for(app.main(), timeout)


def source_pipeline(
    source_cls: type[pump.Source],
    config: Mapping[str, Any],
    pipeline_config: Mapping[str, Any] | None = None,
) -> tuple[pump.Application, pump.Pipeline, pump.Source, CollectingSink]:
    """app → pipeline 'p': source 'src' → CollectingSink."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config=pipeline_config)
    source = source_cls(app, pipeline, "src", config=config)
    sink = CollectingSink(app, pipeline, "collect")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    return app, pipeline, source, sink


async def read_all(
    source_cls: type[pump.Source], config: Mapping[str, Any], **pipeline_config: Any
) -> tuple[list[Any], list[dict[str, Any]], pump.Source]:
    """Run a source to its end; (events, contexts, source)."""
    app, _, source, sink = source_pipeline(source_cls, config, pipeline_config or None)
    assert await run_app(app) == 0
    return sink.events, sink.contexts, source


async def write_all(
    sink_cls: type[pump.Sink],
    config: Mapping[str, Any],
    events: Iterable[Any],
    batch_size: int = 100,
) -> pump.Sink:
    """Run events through a sink to the end (the app stops, so files are published)."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    sink = sink_cls(app, pipeline, "out", config=config)
    pipeline.build(
        IteratorSource(app, pipeline, list(events), config={"batch_size": batch_size}), sink
    )
    app.add_pipeline(pipeline)
    assert await run_app(app) == 0
    assert pipeline.metrics()["errors"] == 0, pipeline.errors
    return sink


class QueueSource(pump.Source):
    """Emits whatever the test puts in `queue` (a list of events at a time), until cancelled."""

    def __init__(self, app: pump.Application, pipeline: pump.Pipeline, id: str = "queue") -> None:
        super().__init__(app, pipeline, id)
        self.queue: asyncio.Queue[list[Any]] = asyncio.Queue()

    async def main(self) -> None:
        while True:
            await self.emit(await self.queue.get(), {})


def files(root: Path, pattern: str = "**/*") -> list[str]:
    """Relative paths of the files under root (hidden ones included), sorted."""
    return sorted(str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file())


@pytest.fixture
def fx() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        run_app=run_app,
        source_pipeline=source_pipeline,
        read_all=read_all,
        write_all=write_all,
        files=files,
        QueueSource=QueueSource,
    )
