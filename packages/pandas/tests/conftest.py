"""Helpers of pump-pandas' tests: pipelines run in a real application on real files (no server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import pump
from pump.common import IteratorSource
from pump.testing import CollectingSink


async def run_app(app: pump.Application, timeout: float = 30.0) -> int:
    """Run `app.main()` with a timeout, so a hang fails the test instead of freezing it."""
    return await asyncio.wait_for(app.main(), timeout)


def pipeline(
    build: Callable[[pump.Application, pump.Pipeline], list[Any]],
    dead_letter: bool = False,
    **pipeline_config: Any,
) -> tuple[pump.Application, pump.Pipeline, CollectingSink | None]:
    """app → pipeline 'p' built from `build(app, pipeline)` (source, processors..., sink);
    with `dead_letter`, on_error dead_letter into a CollectingSink (returned)."""
    app = pump.Application()
    config = {"on_error": "dead_letter", **pipeline_config} if dead_letter else pipeline_config
    p = pump.Pipeline(app, "p", config=config or None)
    components = build(app, p)
    p.build(components[0], *components[1:])
    dead = None
    if dead_letter:
        dead = CollectingSink(app, p, "dead")
        p.set_dead_letter(dead)
    app.add_pipeline(p)
    return app, p, dead


def rows_source(app: pump.Application, p: pump.Pipeline, rows: Iterable[Any], batch: int = 100):
    """A source handing `rows` over in batches of `batch`."""
    return IteratorSource(app, p, list(rows), config={"batch_size": batch})
