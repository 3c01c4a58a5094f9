"""Fixtures of pump-http's tests: local aiohttp peers on free ports, started by the tests.

HTTP and WebSocket need no external server: each test starts the aiohttp servers and clients
it talks to on 127.0.0.1, on ports the operating system picks, and stops them afterwards.
`curl`, `socat` and `nc` (Debian packages of those names) are used where a test needs a
client not written in Python; without one, its tests are skipped (failed under
PUMP_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

import pump
from pump.testing import CollectingSink, require_service


class Rig:
    """A running application of one pipeline: the source under test → a sink."""

    def __init__(
        self, app: pump.Application, pipeline: pump.Pipeline, source: Any, sink: Any
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.source = source
        self.sink = sink


@contextlib.asynccontextmanager
async def _running(
    make_source: Callable[[pump.Application, pump.Pipeline], Any],
    pipeline_config: Mapping[str, Any] | None = None,
    make_sink: Callable[[pump.Application, pump.Pipeline], Any] | None = None,
) -> AsyncIterator[Rig]:
    app = pump.Application(exit_when_finished=False, args=[])
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.01, **(pipeline_config or {})})
    source = make_source(app, pipeline)
    sink = make_sink(app, pipeline) if make_sink else CollectingSink(app, pipeline, "sink")
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        yield Rig(app, pipeline, source, sink)
    finally:
        if isinstance(sink, CollectingSink):
            sink.release()
        await app.stop(timeout=5.0)


@pytest.fixture
def running() -> Callable[..., contextlib.AbstractAsyncContextManager[Rig]]:
    """`async with running(make_source, pipeline_config, make_sink) as rig:` a started app of
    one pipeline, source → sink (a CollectingSink by default), stopped at the end."""
    return _running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's own requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def tool() -> Callable[[str], str]:
    """`tool("curl")`: the path of a command-line client, or the test is skipped."""

    def find(program: str) -> str:
        path = shutil.which(program)
        if path is None:
            require_service(program, f"`{program}` is not installed (apt-get install {program})")
        return path

    return find
