"""What the socket tests share: real peers (socat, nc) found on PATH, free ports, a pipeline rig."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

import pump
from pump.common import ListSink
from pump.testing import require_service, wait_until


def tool(name: str) -> str:
    """The path of a Debian tool the tests use as a real peer (skip, or fail under CI)."""
    path = shutil.which(name)
    if path is None:
        package = "netcat-openbsd" if name == "nc" else name
        require_service(name, f"{name} is not installed (apt-get install -y {package})")
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Rig:
    """An application with one pipeline: the source under test → a ListSink."""

    def __init__(self, source_class: type, config: Mapping[str, Any], **pipeline: Any) -> None:
        self.app = pump.Application(args=[], exit_when_finished=False)
        self.pipeline = pump.Pipeline(self.app, "p", config={"on_error": "skip", **pipeline})
        self.source = source_class(self.app, self.pipeline, "in", config=dict(config))
        self.sink = ListSink(self.app, self.pipeline, "out")
        self.pipeline.build(self.source, self.sink)
        self.app.add_pipeline(self.pipeline)

    @property
    def events(self) -> list[Any]:
        return list(self.sink.events)

    async def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        return await wait_until(lambda: len(self.sink.events) >= count, timeout)

    def metric(self, name: str) -> Any:
        return self.pipeline.metrics()["components"]["in"][name]


@pytest.fixture
async def rig_factory() -> AsyncIterator[Any]:
    """rig(SourceClass, config, **pipeline_config) → a started Rig; stopped at the end."""
    rigs: list[Rig] = []

    async def make(source_class: type, config: Mapping[str, Any], **pipeline: Any) -> Rig:
        rig = Rig(source_class, config, **pipeline)
        await rig.app.start()
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.app.stop(timeout=2)


async def run(command: list[str], stdin: bytes = b"", timeout: float = 20.0) -> bytes:
    """Run a peer to completion with `stdin`; its stdout (fails on a non-zero exit)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    assert process.returncode == 0, f"{command} failed ({process.returncode}): {err.decode()}"
    return out


class Listener:
    """A socat process listening (TCP or Unix) and appending what it receives to a file."""

    def __init__(self, address: str, path: str) -> None:
        self.address = address
        self.path = path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            tool("socat"),
            "-u",
            f"{self.address},reuseaddr,fork",
            f"OPEN:{self.path},creat,append",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its forked children too are stopped with the group
        )

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await process.wait()

    def kill(self) -> None:
        """Stop it at once, without waiting (outside the event loop: a test's teardown)."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    def lines(self) -> list[bytes]:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            return f.read().splitlines()
        return []


async def wait_listening(port: int, timeout: float = 5.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""

    async def probe() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


class QueueSource(pump.Source):
    """Hands over each list of events put into `batches`, until stopped."""

    def __init__(self, app: Any, pipeline: Any, id: str | None = None) -> None:
        super().__init__(app, pipeline, id)
        self.batches: asyncio.Queue[list[Any]] = asyncio.Queue()

    async def main(self) -> None:
        while True:
            await self.emit(await self.batches.get())
