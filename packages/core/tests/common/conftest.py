"""Helpers for the pump.common tests: run a pipeline on a list of events to completion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from pump import Application, Pipeline
from pump.common import IteratorSource, ListSink

Factory = Callable[[Application, Pipeline], Any]


@dataclass
class Run:
    """What a finished run left behind."""

    app: Application
    pipeline: Pipeline
    sink: Any
    components: list[Any] = field(default_factory=list)

    @property
    def events(self) -> list[Any]:
        return list(self.sink.events)

    @property
    def contexts(self) -> list[Any]:
        return list(self.sink.contexts)


async def run_pipeline(
    events: Iterable[Any] | Any,
    *factories: Factory,
    sink: Factory = ListSink,
    source: Factory | None = None,
    pipeline_config: Mapping[str, Any] | None = None,
    source_config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    dead_letter: Factory | None = None,
    timeout: float = 5.0,
) -> Run:
    """Build app + pipeline (IteratorSource → factories → sink), run until finished, stop."""
    app = Application()
    pipeline = Pipeline(app, "test", config=pipeline_config)
    if source is None:
        src = IteratorSource(app, pipeline, events, config=source_config, context=context)
    else:
        src = source(app, pipeline)
    components = [f(app, pipeline) for f in factories]
    the_sink = sink(app, pipeline)
    pipeline.build(src, *components, the_sink)
    if dead_letter is not None:
        pipeline.set_dead_letter(dead_letter(app, pipeline))
    app.add_pipeline(pipeline)
    await app.start()
    try:
        async with asyncio.timeout(timeout):
            while not app.finished():
                await asyncio.sleep(0.001)
    finally:
        await app.stop(timeout=1.0)
    return Run(app, pipeline, the_sink, components)


@pytest.fixture
def run() -> Callable[..., Any]:
    """`await run(events, *factories, ...)` → Run (see run_pipeline)."""
    return run_pipeline
