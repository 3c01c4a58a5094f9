"""Small sources and sinks shared by the core's own tests (exposed through the `kit` fixture)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import pump


class RecordingSource(pump.Source):
    """Emits `events` in batches of `batch_size`; records which batches were acked/rejected."""

    def __init__(self, app, pipeline, events, batch_size=10, per_event_context=False, id=None):
        super().__init__(app, pipeline, id=id)
        self.events = list(events)
        self.batch_size = batch_size
        self.per_event_context = per_event_context
        self.acknowledged: list[tuple[int, int]] = []
        self.rejected: list[tuple[int, int]] = []
        self.emitted = 0

    async def main(self):
        for start in range(0, len(self.events), self.batch_size):
            chunk = self.events[start : start + self.batch_size]
            token = (start, start + len(chunk))
            if self.per_event_context:
                contexts = [{"index": start + i} for i in range(len(chunk))]
                await self.emit(chunk, contexts=contexts, token=token)
            else:
                await self.emit(chunk, {"source": self.Id}, token=token)
            self.emitted += len(chunk)

    def acknowledge(self, batch):
        self.acknowledged.append(batch.token)

    def reject(self, batch):
        self.rejected.append(batch.token)

    def acknowledged_count(self) -> int:
        return sum(b - a for a, b in self.acknowledged)


class CollectSink(pump.Sink):
    """Collects events (sync write)."""

    def __init__(self, app, pipeline, id=None):
        super().__init__(app, pipeline, id=id)
        self.events: list[Any] = []
        self.contexts: list[Any] = []

    def write(self, events, contexts):
        self.events.extend(events)
        self.contexts.extend(contexts)


class GateSink(pump.Sink):
    """Async sink whose writes complete only when the test opens the gate."""

    def __init__(self, app, pipeline, id=None):
        super().__init__(app, pipeline, id=id)
        self.gate = asyncio.Event()
        self.events: list[Any] = []

    async def _write(self, events):
        await self.gate.wait()
        self.events.extend(events)

    def write(self, events, contexts):
        return self._write(events)


class Identity(pump.Processor):
    def process(self, context, event):
        return event


async def run_app(app: pump.Application, timeout: float = 10.0) -> int:
    """Run `app.main()` with a timeout so a hang fails the test instead of freezing it."""
    return await asyncio.wait_for(app.main(), timeout)


@pytest.fixture
def kit():
    return types.SimpleNamespace(
        RecordingSource=RecordingSource,
        CollectSink=CollectSink,
        GateSink=GateSink,
        Identity=Identity,
        run_app=run_app,
    )


_INSTALLER = Path(__file__).resolve().parent / "plugins" / "fixture_dists" / "installer.py"


def load_installer():
    """The installer module, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location("pump_fixture_dists_installer", _INSTALLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fixture_dists(tmp_path_factory):
    """pump-test-plugins, -conflict and -broken are installed and discoverable."""
    pythonpath, path = os.environ.get("PYTHONPATH"), list(sys.path)
    target = load_installer().ensure_installed(tmp_path_factory.mktemp("fixture_dists"))
    yield target
    if target is not None:
        sys.path[:] = path
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
