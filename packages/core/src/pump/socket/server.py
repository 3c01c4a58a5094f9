"""Stream server sources: TCP (optionally TLS) and Unix sockets, cut into lines or frames.

Every accepted connection is a `_Peer` (an asyncio protocol) that cuts what it receives into
frames and keeps them until the source's `main()` hands them to the pipeline, one batch per
connection. Memory stays bounded: a connection stops being read (`transport.pause_reading()`)
once `read_buffer` bytes of it wait for the pipeline, and is read again when they are handed
over; the pipeline's own bound (`max_in_flight`) makes `main()` wait in `ready()`, so a slow
sink stops the reading of every connection. At most `max_connections` are served at once:
further clients wait in the listening socket's backlog until one closes.

A byte stream cannot be acknowledged: what a peer sent is lost if Pump crashes before the
sink wrote it (at most once), unless the peers' own protocol resends (see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import stat
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from pump.common.encoding import ErrorHandler, TextEncodingOrNone
from pump.config import ComponentConfig
from pump.context import SharedContext
from pump.metrics import Counter, Gauge
from pump.ratelimit import RateLimitedLog
from pump.socket.address import address_to_host_port, peer_name, resolve
from pump.socket.errors import SocketError
from pump.socket.framing import Framer, Framing, make_framer
from pump.source import Source
from pump.taskgroup import TaskGroup
from pump.tls import TLSServerConfig

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

__all__ = [
    "StreamServerConfig",
    "StreamServerSourceBase",
    "TCPServerSource",
    "TCPServerSourceConfig",
    "UnixServerSource",
    "UnixServerSourceConfig",
]

L = logging.getLogger(__name__)

MiB = 1024 * 1024


class StreamServerConfig(ComponentConfig):
    """What every stream server source has: framing, limits and decoding."""

    framing: Framing = Field(
        "lines",
        description="How the stream is cut into events: lines (\\n, a \\r before it removed) "
        "or length_prefixed (a big-endian length, then that many bytes)",
    )
    length_bytes: Literal[1, 2, 4, 8] = Field(
        4, description="Size of the length prefix, bytes (framing: length_prefixed)"
    )
    max_frame_size: int = Field(
        MiB,
        gt=0,
        le=64 * MiB,
        description="Longest line or frame, bytes; a longer one goes to the error policy",
    )
    encoding: TextEncodingOrNone = Field(
        "", description="Decode each frame to text with this encoding ('': events are bytes)"
    )
    encoding_errors: ErrorHandler = Field(
        "strict",
        description="What undecodable bytes do: strict (to the error policy), replace, ...",
    )
    max_connections: int = Field(
        256,
        gt=0,
        le=100_000,
        description="Connections served at once; more wait in the backlog until one closes",
    )
    idle_timeout: float = Field(
        300.0,
        ge=0,
        description="Seconds without data after which a connection is closed (0: never)",
    )
    read_buffer: int = Field(
        256 * 1024,
        ge=1024,
        le=64 * MiB,
        description="Bytes of a connection waiting for the pipeline above which its reading pauses",
    )
    backlog: int = Field(
        128, gt=0, le=65_535, description="Connections the system queues before they are accepted"
    )


class _Peer(asyncio.Protocol):
    """One accepted connection: frames received and not yet handed over, and flow control."""

    def __init__(self, source: StreamServerSourceBase, number: int) -> None:
        self.source = source
        self.number = number
        self.framer: Framer = source.make_framer()
        self.frames: list[bytes] = []
        self.errors: dict[int, BaseException] = {}
        self.waiting = 0  # bytes received since the last hand-over
        self.queued = False  # in the source's queue of connections with frames
        self.paused = False
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self.context: SharedContext = SharedContext({})
        self.last_data = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.last_data = self.source.clock()
        self.context = SharedContext(
            {
                "socket_peer": peer_name(transport.get_extra_info("peername")),
                "socket_connection": self.number,
            }
        )

    def data_received(self, data: bytes) -> None:
        self.last_data = self.source.clock()
        if not self.framer.feed(data, self.frames, self.errors):
            self.close()
        self.waiting += len(data)
        if self.frames and not self.queued:
            self.source.queue(self)
        if self.waiting >= self.source.read_buffer and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.framer.end(self.frames, self.errors)
        if self.frames and not self.queued:
            self.source.queue(self)
        return False  # close our side too: the source never writes

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.source.forget(self)

    def take(self) -> tuple[list[bytes], dict[int, BaseException]]:
        """The frames received so far (and their errors); reading resumes."""
        frames, errors = self.frames, self.errors
        self.frames, self.errors, self.waiting, self.queued = [], {}, 0, False
        if self.paused and not self.closed and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return frames, errors

    def close(self) -> None:
        """Close the connection (frames already received are still handed over)."""
        if self.transport is not None:
            self.transport.close()


class StreamServerSourceBase(Source):
    """Listens for stream connections and hands over their lines or frames, one batch per read.

    Subclasses open the listening socket in `listen()`. Each event's context is one read-only
    mapping per connection: `socket_peer` (the client's address) and `socket_connection` (the
    connection's number, counting from 1 within the source).
    """

    ConfigModel: ClassVar[type[StreamServerConfig]] = StreamServerConfig
    Config: StreamServerConfig

    connections = Gauge("Connections open now")
    accepted = Counter("Connections accepted")
    idle_closed = Counter("Connections closed because they sent nothing for idle_timeout")
    handshake_failures = Counter("Connections closed because their TLS handshake failed")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.read_buffer = self.Config.read_buffer
        self._listener: socket.socket | None = None
        self._ssl: ssl.SSLContext | None = None
        self._peers: set[_Peer] = set()
        self._queue: deque[_Peer] = deque()
        self._wakeup = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._tasks = TaskGroup(self.location())
        self._numbers = 0
        self._log = RateLimitedLog(L, 10.0)
        self.clock = time.monotonic  # what the event loop's time() is

    # -- what subclasses provide ---------------------------------------------------------

    def listen(self) -> socket.socket:
        """A bound, listening, non-blocking socket (SocketError naming the address if not)."""
        raise NotImplementedError

    def describe_address(self) -> str:
        """Where the source listens, for messages."""
        raise NotImplementedError

    # -- parts -----------------------------------------------------------------------------

    def make_framer(self) -> Framer:
        """A framer for one connection."""
        c = self.Config
        return make_framer(c.framing, c.max_frame_size, c.length_bytes)

    def queue(self, peer: _Peer) -> None:
        """`peer` has frames to hand over."""
        peer.queued = True
        self._queue.append(peer)
        self._wakeup.set()

    def forget(self, peer: _Peer) -> None:
        """`peer` closed; its frames, if any, are still handed over."""
        if peer in self._peers:
            self._peers.discard(peer)
            self.connections = len(self._peers)
            self._slot_free.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the listening socket, so the application fails to start if it cannot."""
        if self._listener is None:
            self._listener = self.listen()

    async def main(self) -> None:
        """Accept connections and hand over what they send, until cancelled."""
        if self._listener is None:
            await self.start()
        assert self._listener is not None
        accepting = asyncio.get_running_loop().create_task(self._accept(self._listener))
        sweeping = None
        if self.Config.idle_timeout:
            sweeping = asyncio.get_running_loop().create_task(self._sweep())
        try:
            await self._hand_over()
        finally:
            accepting.cancel()
            if sweeping is not None:
                sweeping.cancel()
            self._close_listener()
            self._flush_on_stop()
            for peer in list(self._peers):
                peer.close()
            await self._tasks.cancel()

    async def _hand_over(self) -> None:
        queue = self._queue
        wakeup = self._wakeup
        pipeline = self.Pipeline
        while True:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            await pipeline.ready()
            peer = queue.popleft()
            frames, errors = peer.take()
            if frames:
                events, errors = self._decoded(frames, errors)
                await self.emit(events, peer.context, errors=errors or None)

    def _decoded(
        self, frames: list[bytes], errors: dict[int, BaseException]
    ) -> tuple[list[Any], dict[int, BaseException]]:
        encoding = self.Config.encoding
        if not encoding:
            return frames, errors
        handler = self.Config.encoding_errors
        try:
            return [f.decode(encoding, handler) for f in frames], errors
        except UnicodeDecodeError:
            pass
        events: list[Any] = []
        for i, f in enumerate(frames):
            if i in errors:
                events.append(f)
                continue
            try:
                events.append(f.decode(encoding, handler))
            except UnicodeDecodeError as exc:
                errors[i] = exc
                events.append(f)
        return events, errors

    def _flush_on_stop(self) -> None:
        """Hand over what was received before the stop, so the drain finishes it."""
        if self.Pipeline.is_error():
            return
        while self._queue:
            peer = self._queue.popleft()
            frames, errors = peer.take()
            if frames:
                events, errors = self._decoded(frames, errors)
                self.Pipeline.process_batch(
                    events, context=peer.context, source=self, errors=errors or None
                )

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        limit = self.Config.max_connections
        while True:
            while len(self._peers) >= limit:
                self._slot_free.clear()
                await self._slot_free.wait()
            try:
                connection, _ = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, a connection reset while queued
                self._log.warning("%s: accepting a connection failed: %s", self.location(), exc)
                await asyncio.sleep(0.1)
                continue
            self._numbers += 1
            peer = _Peer(self, self._numbers)
            self._peers.add(peer)
            self.accepted += 1
            self.connections = len(self._peers)
            self._tasks.spawn(self._connect(peer, connection))

    async def _connect(self, peer: _Peer, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._ssl is None:
                await loop.connect_accepted_socket(lambda: peer, connection)
            else:
                await loop.connect_accepted_socket(
                    lambda: peer,
                    connection,
                    ssl=self._ssl,
                    ssl_handshake_timeout=self._handshake_timeout(),
                )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            connection.close()
            self.handshake_failures += 1
            self._log.warning(
                "%s: a connection from %s failed before it was ready: %s: %s",
                self.location(),
                peer_name(_peer_address(connection)),
                type(exc).__name__,
                exc,
            )
            self.forget(peer)

    def _handshake_timeout(self) -> float | None:
        return None

    async def _sweep(self) -> None:
        timeout = self.Config.idle_timeout
        period = min(timeout / 2, 1.0)
        while True:
            await asyncio.sleep(period)
            deadline = self.clock() - timeout
            for peer in list(self._peers):
                # a connection held back by the pipeline is waiting, not idle
                if (
                    peer.last_data < deadline
                    and not peer.paused
                    and not peer.frames
                    and peer.transport is not None
                    and not peer.closed
                ):
                    self.idle_closed += 1
                    peer.close()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def stop(self) -> None:
        """Close the listening socket and every connection still open."""
        self._close_listener()
        for peer in list(self._peers):
            peer.close()
        await self._tasks.cancel()


def _peer_address(connection: socket.socket) -> Any:
    with contextlib.suppress(OSError):
        return connection.getpeername()
    return ""


# -- TCP -----------------------------------------------------------------------------------


class TCPServerSourceConfig(StreamServerConfig, TLSServerConfig):
    """Settings of a TCPServerSource."""

    host: str = Field(
        "127.0.0.1",
        description="Address to listen on (0.0.0.0 or :: for every interface)",
        examples=["127.0.0.1", "0.0.0.0"],
    )
    port: int = Field(
        ...,
        ge=0,
        le=65_535,
        description="TCP port to listen on (0: any free port)",
        examples=[5170],
    )

    @model_validator(mode="before")
    @classmethod
    def _bspump_address(cls, data: Any) -> Any:
        return address_to_host_port(data)


class TCPServerSource(StreamServerSourceBase):
    """Listens on a TCP port (TLS when `tls_cert_file` is set) and hands over lines or frames."""

    ConfigModel = TCPServerSourceConfig
    Config: TCPServerSourceConfig

    #: (host, port) actually listened on, once started (the port chosen for `port: 0`).
    address: tuple[str, int] | None = None

    def listen(self) -> socket.socket:
        """Bind and listen on host:port."""
        c = self.Config
        if c.tls_enabled and self._ssl is None:
            self._ssl = c.server_ssl_context()
        try:
            family, _, _, _, sockaddr = resolve(c.host, c.port, socket.SOCK_STREAM, passive=True)
            listener = socket.create_server(sockaddr, family=family, backlog=c.backlog)
        except OSError as exc:
            raise SocketError(
                f"{self.location()}: cannot listen on {self.describe_address()}: {exc}"
            ) from None
        listener.setblocking(False)
        bound = listener.getsockname()
        self.address = (bound[0], bound[1])
        return listener

    def describe_address(self) -> str:
        """host:port (the bound port once started)."""
        if self.address is not None:
            return peer_name(self.address)
        return peer_name((self.Config.host, self.Config.port))

    def _handshake_timeout(self) -> float | None:
        return self.Config.tls_handshake_timeout


# -- Unix ----------------------------------------------------------------------------------


def _octal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value.removeprefix("0o"), 8)
        except ValueError:
            raise ValueError(f"not an octal number: {value!r}") from None
    return value


#: File permissions: a number, or octal digits as text ("660"; YAML reads 0660 as octal too).
FileMode = Annotated[int, BeforeValidator(_octal), Field(ge=0, le=0o777)]


class UnixServerSourceConfig(StreamServerConfig):
    """Settings of a UnixServerSource."""

    path: str = Field(
        ..., description="Path of the Unix socket to create", examples=["/run/pump/in.sock"]
    )
    mode: FileMode = Field(
        "600",  # validated: octal text is read as a number
        validate_default=True,
        description="Permissions of the socket file (who may connect to it), octal",
        examples=["660"],
    )


class UnixServerSource(StreamServerSourceBase):
    """Listens on a Unix stream socket and hands over lines or frames."""

    ConfigModel = UnixServerSourceConfig
    Config: UnixServerSourceConfig

    def listen(self) -> socket.socket:
        """Create the socket file (replacing one left by a process that ended) and listen."""
        path = self.Config.path
        if _stale_socket(path):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, self.Config.mode)
            listener.listen(self.Config.backlog)
        except OSError as exc:
            listener.close()
            raise SocketError(f"{self.location()}: cannot listen on {path}: {exc}") from None
        listener.setblocking(False)
        return listener

    def describe_address(self) -> str:
        """The socket's path."""
        return self.Config.path

    def _close_listener(self) -> None:
        if self._listener is not None:
            super()._close_listener()
            with contextlib.suppress(OSError):
                os.unlink(self.Config.path)


def _stale_socket(path: str) -> bool:
    """True when `path` is a socket file nobody listens on any more."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False  # someone listens: binding fails with "address in use", as it should
