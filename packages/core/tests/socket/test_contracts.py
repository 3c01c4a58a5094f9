"""The contract suites: TCPServerSource (fed by nc) and TCPClientSink (into socat)."""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

import orjson
import pytest

from pump.socket import TCPClientSink, TCPServerSource
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

    bad_configs: ClassVar = [{"port": 0}, {"framing": "csv"}, {"connect_timeout": -1}]

    async def prepare(self) -> None:
        self.port = free_port()
        self.peer = Listener(
            f"TCP-LISTEN:{self.port},bind=127.0.0.1", f"/tmp/pump-sink-{uuid.uuid4().hex}"
        )
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
