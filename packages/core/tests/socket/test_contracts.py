"""The contract suites: TCPServerSource (fed by nc) and TCPClientSink (into socat)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from pump.socket import TCPClientSink, TCPServerSource, UDPSource, UnixServerSource
from pump.testing import SinkContract, SourceContract
from pump.testing.waiting import wait_quiet

from .conftest import Listener, free_port, run, tool, wait_listening


class TestTCPServerSource(SourceContract):
    """A stream cannot be acknowledged, so no redelivery: the delivery rules of what was read."""

    produce_after_start = True
    expected_context_keys = ("socket_peer", "socket_connection")
    bad_configs: ClassVar = [{"max_frame_size": 0}, {"framing": "xml"}, {"port": 70_000}]

    def make_source(self, app, pipeline, config=None):
        self.source = TCPServerSource(app, pipeline, "tcp", config={"port": 0, **(config or {})})
        return self.source

    async def produce(self, events: list[Any]) -> None:
        host, port = self.source.address
        data = b"".join(orjson.dumps(e) + b"\n" for e in events)
        await run([tool("nc"), "-N", host, str(port)], data)

    def decode(self, event: Any) -> Any:
        return orjson.loads(event)


class TestTCPClientSink(SinkContract):
    """Every rule but one: a byte stream has no acknowledgement from the peer."""

    peer: Listener | None = None

    @pytest.fixture(autouse=True)
    def _peer_stopped_after_the_test(self, tmp_path: Path) -> Iterator[None]:
        self.folder = tmp_path
        yield
        if self.peer is not None:
            self.peer.kill()

    bad_configs: ClassVar = [{"port": 0}, {"framing": "csv"}, {"connect_timeout": -1}]

    async def prepare(self) -> None:
        self.port = free_port()
        self.peer = Listener(f"TCP-LISTEN:{self.port},bind=127.0.0.1", str(self.folder / "got"))
        await self.peer.start()
        await wait_listening(self.port)

    def make_events(self, n: int) -> list[Any]:
        return [json.dumps(e) for e in super().make_events(n)]

    def make_sink(self, app, pipeline, config=None):
        return TCPClientSink(app, pipeline, "tcp", config={"port": self.port, **(config or {})})

    def make_failing_sink(self, app, pipeline):
        return TCPClientSink(app, pipeline, "tcp", config={"port": free_port()})

    async def read_back(self) -> list[Any]:
        # the peer (socat) writes what the sink sent to its file a moment later
        await wait_quiet(lambda: len(self.peer.lines()), 0.2, 5.0)
        return [line.decode() for line in self.peer.lines()]

    async def test_no_batch_is_acknowledged_before_the_sink_confirmed(self) -> None:
        pytest.skip(
            "a TCP peer confirms nothing: a batch is done when the operating system has its "
            "bytes (the README's delivery section says so)"
        )

    async def interrupt_destination(self) -> None:
        await self.peer.stop()

    async def restore_destination(self) -> None:
        await self.peer.start()
        await wait_listening(self.port)


class TestUnixServerSource(TestTCPServerSource):
    """The same rules on a Unix socket, fed by socat."""

    expected_context_keys = ("socket_connection",)
    bad_configs: ClassVar = [{"max_frame_size": 0}, {"mode": "999"}]

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = str(tmp_path / "in.sock")

    def make_source(self, app, pipeline, config=None):
        self.source = UnixServerSource(
            app, pipeline, "unix", config={"path": self.path, **(config or {})}
        )
        return self.source

    async def produce(self, events: list[Any]) -> None:
        data = b"".join(orjson.dumps(e) + b"\n" for e in events)
        await run([tool("socat"), "-u", "-", f"UNIX-CONNECT:{self.path}"], data)


class TestUDPSource(SourceContract):
    """Datagrams sent from this process (one per event), each event one datagram."""

    produce_after_start = True
    expected_context_keys = ("socket_peer",)
    bad_configs: ClassVar = [{"max_datagram_size": 70_000}, {"queue_max_bytes": 10}]

    def make_source(self, app, pipeline, config=None):
        self.source = UDPSource(app, pipeline, "udp", config={"port": 0, **(config or {})})
        return self.source

    async def produce(self, events: list[Any]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for event in events:
                sender.sendto(orjson.dumps(event), self.source.address)
                await asyncio.sleep(0.001)

    def decode(self, event: Any) -> Any:
        return orjson.loads(event)
