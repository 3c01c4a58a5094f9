"""Stream client sinks: events written as lines or length-prefixed frames to a TCP or Unix peer.

A batch is done when all its bytes were handed to the operating system (the socket's buffer):
a stream has no acknowledgement, so a peer that crashes loses what its system had received
and not yet read. A connection that breaks fails the write; the pipeline retries the batch
on a new connection (`sink_retries`, `retry_backoff`), so a peer may see part of a batch twice
(at least once). Batches are written one after the other, in the order they were handed over.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from pump.common.encoding import TextEncoding
from pump.config import ComponentConfig
from pump.errors import PartialWriteError, PermanentWriteError
from pump.metrics import Counter, Gauge
from pump.sink import Sink
from pump.socket.address import address_to_host_port, peer_name
from pump.socket.framing import Framing
from pump.tls import TLSConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

__all__ = [
    "StreamClientConfig",
    "StreamClientSinkBase",
    "TCPClientSink",
    "TCPClientSinkConfig",
    "UnixClientSink",
    "UnixClientSinkConfig",
]

L = logging.getLogger(__name__)


class StreamClientConfig(ComponentConfig):
    """What every stream client sink has: framing, text encoding, timeouts."""

    framing: Framing = Field(
        "lines",
        description="How events are delimited: lines (each followed by \\n) or length_prefixed "
        "(a big-endian length before each)",
    )
    length_bytes: Literal[1, 2, 4, 8] = Field(
        4, description="Size of the length prefix, bytes (framing: length_prefixed)"
    )
    encoding: TextEncoding = Field("utf-8", description="Encoding of events that are text")
    connect_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds to wait for a connection (and TLS handshake)"
    )


class _Link(asyncio.Protocol):
    """One connection to the peer: whether it is alive, and waiting for its buffer to empty."""

    def __init__(self, on_lost: Callable[[_Link], None] = lambda link: None) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self._on_lost = on_lost
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # pause_writing as soon as anything is buffered: drain() returns only when every byte
        # was handed to the operating system
        transport.set_write_buffer_limits(high=0)

    def data_received(self, data: bytes) -> None:
        """Whatever the peer says is ignored (it is read only to notice when it closes)."""

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("the peer closed the connection")
        self._wake()
        self._on_lost(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until every byte written is with the operating system; raise if the link broke."""
        while self._paused and self.lost is None:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        if self.lost is not None:
            raise ConnectionResetError(f"connection lost: {self.lost}")

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()


class StreamClientSinkBase(Sink):
    """Writes each event (bytes, or text encoded with `encoding`) as a line or a frame.

    Subclasses open the connection in `open_connection()`.
    """

    ConfigModel: ClassVar[type[StreamClientConfig]] = StreamClientConfig
    Config: StreamClientConfig

    connected = Gauge("1 while connected to the peer")
    reconnects = Counter("Connections made again after one was lost")
    bytes_sent = Counter("Bytes handed to the operating system for the peer")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._link: _Link | None = None
        self._lock = asyncio.Lock()
        self._ever_connected = False
        c = self.Config
        self._lines = c.framing == "lines"
        self._length_bytes = c.length_bytes
        self._max_length = (1 << (8 * c.length_bytes)) - 1

    # -- what subclasses provide ---------------------------------------------------------

    async def open_connection(self, protocol: _Link) -> None:
        """Connect `protocol` to the peer (raise OSError when it cannot)."""
        raise NotImplementedError

    def describe_address(self) -> str:
        """The peer's address, for messages."""
        raise NotImplementedError

    # -- writing ---------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[Any]) -> Any:
        """Frame the batch now; the returned awaitable completes when it was sent."""
        chunks: list[bytes] = []
        errors: dict[int, BaseException] = {}
        encoding = self.Config.encoding
        for i, event in enumerate(events):
            try:
                data = event if isinstance(event, bytes) else self._encode(event, encoding)
                chunks.append(self._frame(data))
            except (TypeError, ValueError) as exc:
                errors[i] = PermanentWriteError.wrap(self.location(), exc)
        if errors and len(errors) == len(events):
            raise PartialWriteError(errors)
        return self._send(b"".join(chunks), errors)

    def _encode(self, event: Any, encoding: str) -> bytes:
        if isinstance(event, str):
            return event.encode(encoding)
        if isinstance(event, (bytearray, memoryview)):
            return bytes(event)
        raise TypeError(
            f"{self.location()}: events must be bytes or str, not {type(event).__name__} "
            "(add a json.serialize processor before the sink)"
        )

    def _frame(self, data: bytes) -> bytes:
        if self._lines:
            if b"\n" in data:
                raise ValueError(
                    f"{self.location()}: the event contains a newline, which would split it in "
                    "two lines at the peer (framing: lines); use framing: length_prefixed"
                )
            return data + b"\n"
        if len(data) > self._max_length:
            raise ValueError(
                f"{self.location()}: the event has {len(data)} bytes, more than a "
                f"{self._length_bytes}-byte length prefix can say"
            )
        return len(data).to_bytes(self._length_bytes, "big") + data

    async def _send(self, data: bytes, errors: dict[int, BaseException]) -> None:
        async with self._lock:  # batches go out whole and in order
            link = await self._connected()
            assert link.transport is not None
            link.transport.write(data)
            try:
                await link.drain()
            except ConnectionError as exc:
                self._drop(link)
                raise ConnectionError(
                    f"{self.location()}: sending to {self.describe_address()} failed: {exc}"
                ) from None
        self.bytes_sent += len(data)
        if errors:
            raise PartialWriteError(errors)

    async def _connected(self) -> _Link:
        link = self._link
        if link is not None and link.lost is None:
            return link
        if link is not None:
            self._drop(link)
        link = _Link(self._lost)
        try:
            await asyncio.wait_for(self.open_connection(link), self.Config.connect_timeout)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise ConnectionError(
                f"{self.location()}: cannot connect to {self.describe_address()}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._link = link
        self.connected = 1
        return link

    def _lost(self, link: _Link) -> None:
        if self._link is link:
            self.connected = 0

    def _drop(self, link: _Link) -> None:
        link.close()
        if self._link is link:
            self._link = None
            self.connected = 0

    async def stop(self) -> None:
        """Close the connection (the pipeline has finished its writes by now)."""
        async with self._lock:
            if self._link is not None:
                self._drop(self._link)


# -- TCP -----------------------------------------------------------------------------------


class TCPClientSinkConfig(StreamClientConfig, TLSConfig):
    """Settings of a TCPClientSink."""

    host: str = Field("127.0.0.1", description="Host of the peer", examples=["collector.local"])
    port: int = Field(..., gt=0, le=65_535, description="TCP port of the peer", examples=[5170])
    tls: bool = Field(False, description="Speak TLS (the tls_* keys say how to check the peer)")

    @model_validator(mode="before")
    @classmethod
    def _bspump_address(cls, data: Any) -> Any:
        return address_to_host_port(data)


class TCPClientSink(StreamClientSinkBase):
    """Writes events to a TCP peer (TLS when `tls: true`), reconnecting when the link breaks."""

    ConfigModel = TCPClientSinkConfig
    Config: TCPClientSinkConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._ssl = self.Config.ssl_context() if self.Config.tls else None

    async def open_connection(self, protocol: _Link) -> None:
        """Connect over TCP (and TLS)."""
        c = self.Config
        await asyncio.get_running_loop().create_connection(
            lambda: protocol,
            c.host,
            c.port,
            ssl=self._ssl,
            server_hostname=c.host if self._ssl is not None else None,
        )

    def describe_address(self) -> str:
        """host:port."""
        return peer_name((self.Config.host, self.Config.port))


# -- Unix ----------------------------------------------------------------------------------


class UnixClientSinkConfig(StreamClientConfig):
    """Settings of a UnixClientSink."""

    path: str = Field(
        ..., description="Path of the peer's Unix socket", examples=["/run/collector.sock"]
    )


class UnixClientSink(StreamClientSinkBase):
    """Writes events to a Unix stream socket, reconnecting when the link breaks."""

    ConfigModel = UnixClientSinkConfig
    Config: UnixClientSinkConfig

    async def open_connection(self, protocol: _Link) -> None:
        """Connect to the socket file."""
        await asyncio.get_running_loop().create_unix_connection(lambda: protocol, self.Config.path)

    def describe_address(self) -> str:
        """The socket's path."""
        return self.Config.path
