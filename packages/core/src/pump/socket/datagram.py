"""UDP: a source that hands over each datagram as an event, and a sink that sends each event.

UDP has neither acknowledgement nor flow control: a sender does not slow down when Pump
does. So the source reads datagrams as they come into a queue of at most `queue_max_bytes`
and hands them over in batches; a datagram arriving while the queue is full is dropped and
counted (`overflowed`), and so are those the operating system dropped because its receive
buffer was full before the source read them (`kernel_dropped`, read from /proc on Linux).
Every datagram sent is therefore either handed over or counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from pump.common.encoding import ErrorHandler, TextEncoding, TextEncodingOrNone
from pump.config import ComponentConfig
from pump.errors import PartialWriteError, PermanentWriteError
from pump.metrics import Counter
from pump.ratelimit import RateLimitedLog
from pump.sink import Sink
from pump.socket.address import peer_name, with_bspump_names
from pump.socket.errors import FrameTooLarge, SocketError
from pump.source import Source
from pump.waiting import wait_event

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

__all__ = ["UDPSink", "UDPSinkConfig", "UDPSource", "UDPSourceConfig"]

L = logging.getLogger(__name__)

#: The largest UDP payload over IPv4.
MAX_UDP_PAYLOAD = 65_507


class UDPSourceConfig(ComponentConfig):
    """Settings of a UDPSource."""

    host: str = Field(
        "127.0.0.1", description="Address to listen on (0.0.0.0 or :: for every interface)"
    )
    port: int = Field(
        ...,
        ge=0,
        le=65_535,
        description="UDP port to listen on (0: any free port)",
        examples=[5140],
    )
    max_datagram_size: int = Field(
        MAX_UDP_PAYLOAD,
        gt=0,
        le=MAX_UDP_PAYLOAD,
        description="Largest datagram handed over, bytes; a larger one goes to the error policy",
    )
    encoding: TextEncodingOrNone = Field(
        "", description="Decode each datagram to text with this encoding ('': events are bytes)"
    )
    encoding_errors: ErrorHandler = Field(
        "strict",
        description="What undecodable bytes do: strict (to the error policy), replace, ...",
    )
    queue_max_bytes: int = Field(
        16 * 1024 * 1024,
        ge=65_536,
        le=1024**3,
        description="Bytes of datagrams waiting for the pipeline; more are dropped and counted",
    )
    receive_buffer_size: int = Field(
        0,
        ge=0,
        le=1024**3,
        description="The socket's receive buffer, bytes (SO_RCVBUF; 0: the system's default)",
    )

    @model_validator(mode="before")
    @classmethod
    def _bspump_address(cls, data: Any) -> Any:
        return with_bspump_names(
            data,
            {"receiver_buffer_size": "receive_buffer_size", "max_packet_size": "max_datagram_size"},
        )


class _Receiver(asyncio.DatagramProtocol):
    """Queues datagrams for the source; drops (and counts) what does not fit."""

    def __init__(self, source: UDPSource) -> None:
        self.source = source
        self.datagrams: list[tuple[bytes, Any]] = []
        self.queued = 0
        self.limit = source.Config.queue_max_bytes
        self.wakeup = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        size = len(data)
        if self.queued + size > self.limit:
            self.source.overflowed += 1
            return
        self.queued += size
        self.datagrams.append((data, addr))
        self.wakeup.set()

    def error_received(self, exc: Exception) -> None:
        self.source.report_receive_error(exc)

    def take(self) -> list[tuple[bytes, Any]]:
        """The datagrams queued so far."""
        taken, self.datagrams, self.queued = self.datagrams, [], 0
        self.wakeup.clear()
        return taken


class UDPSource(Source):
    """Hands over each UDP datagram as an event; context: `socket_peer` (the sender)."""

    ConfigModel = UDPSourceConfig
    Config: UDPSourceConfig

    overflowed = Counter("Datagrams dropped because the queue to the pipeline was full")
    kernel_dropped = Counter(
        "Datagrams the system dropped before the source read them (receive buffer full; Linux)"
    )

    #: (host, port) actually listened on, once started (the port chosen for `port: 0`).
    address: tuple[str, int] | None = None

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._transport: asyncio.DatagramTransport | None = None
        self._receiver: _Receiver | None = None
        self._log = RateLimitedLog(L, 10.0)
        self._inode = 0
        self._kernel_drops_at_start = 0

    async def start(self) -> None:
        """Bind the socket, so the application fails to start if it cannot."""
        if self._transport is not None:
            return
        c = self.Config
        loop = asyncio.get_running_loop()
        receiver = _Receiver(self)
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                c.host or None, c.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if c.receive_buffer_size:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, c.receive_buffer_size)
                sock.bind(sockaddr)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            raise SocketError(
                f"{self.location()}: cannot listen on {peer_name((c.host, c.port))}/udp: {exc}"
            ) from None
        sock.setblocking(False)
        bound = sock.getsockname()
        self.address = (bound[0], bound[1])
        self._inode = os.fstat(sock.fileno()).st_ino
        self._kernel_drops_at_start = _kernel_drops(self._inode)
        transport, _ = await loop.create_datagram_endpoint(lambda: receiver, sock=sock)
        self._transport = transport
        self._receiver = receiver

    async def main(self) -> None:
        """Hand over the queued datagrams in batches until cancelled."""
        if self._receiver is None:
            await self.start()
        receiver = self._receiver
        assert receiver is not None
        pipeline = self.Pipeline
        clock = asyncio.get_running_loop().time
        counted = clock()
        try:
            while True:
                if clock() - counted >= 1.0:
                    self._count_kernel_drops()
                    counted = clock()
                if not receiver.datagrams and not await wait_event(receiver.wakeup, 1.0):
                    continue
                await pipeline.ready()
                await self._hand_over(receiver.take(), wait=True)
        finally:
            self._count_kernel_drops()
            if self._transport is not None:
                self._transport.close()
                self._transport = None
            if not pipeline.is_error():  # what was received before the stop is finished
                await self._hand_over(receiver.take(), wait=False)

    async def _hand_over(self, datagrams: list[tuple[bytes, Any]], wait: bool) -> None:
        if not datagrams:
            return
        c = self.Config
        limit = c.max_datagram_size
        encoding = c.encoding
        events: list[Any] = []
        contexts: list[dict[str, Any]] = []
        errors: dict[int, BaseException] = {}
        for i, (data, addr) in enumerate(datagrams):
            contexts.append({"socket_peer": peer_name(addr)})
            if len(data) > limit:
                errors[i] = FrameTooLarge(
                    f"a datagram of {len(data)} bytes, above max_datagram_size ({limit})"
                )
                events.append(data)
            elif encoding:
                try:
                    events.append(data.decode(encoding, c.encoding_errors))
                except UnicodeDecodeError as exc:
                    errors[i] = exc
                    events.append(data)
            else:
                events.append(data)
        if wait:
            await self.emit(events, contexts=contexts, errors=errors or None)
        else:
            self.Pipeline.process_batch(
                events, contexts=contexts, source=self, errors=errors or None
            )

    def _count_kernel_drops(self) -> None:
        if self._inode:
            drops = _kernel_drops(self._inode) - self._kernel_drops_at_start
            if drops > self.kernel_dropped:
                self.kernel_dropped = drops
                self._log.warning(
                    "%s: the system dropped %d datagrams so far because the source did not "
                    "read them in time (raise receive_buffer_size)",
                    self.location(),
                    drops,
                )

    def report_receive_error(self, exc: Exception) -> None:
        """An error the socket reported (an ICMP message): logged, not fatal."""
        self._log.warning("%s: %s: %s", self.location(), type(exc).__name__, exc)

    async def stop(self) -> None:
        """Close the socket if main() has not."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _kernel_drops(inode: int) -> int:
    """The system's count of datagrams dropped for the socket with this inode (0 off Linux)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) > 12 and fields[9] == str(inode):
                        return int(fields[-1])
        except OSError:
            continue
    return 0


# -- the sink ------------------------------------------------------------------------------


class UDPSinkConfig(ComponentConfig):
    """Settings of a UDPSink."""

    host: str = Field("127.0.0.1", description="Host to send to", examples=["collector.local"])
    port: int = Field(..., gt=0, le=65_535, description="UDP port to send to", examples=[5140])
    encoding: TextEncoding = Field("utf-8", description="Encoding of events that are text")
    max_datagram_size: int = Field(
        MAX_UDP_PAYLOAD,
        gt=0,
        le=MAX_UDP_PAYLOAD,
        description="Largest datagram sent, bytes; a larger event goes to the error policy",
    )

    @model_validator(mode="before")
    @classmethod
    def _bspump_address(cls, data: Any) -> Any:
        return with_bspump_names(data, {"max_packet_size": "max_datagram_size"})


class _Sender(asyncio.DatagramProtocol):
    """The sink's socket: flow control, and errors the peer's system reports back."""

    def __init__(self, sink: UDPSink) -> None:
        self.sink = sink
        self.paused = False
        self.resumed: asyncio.Future[None] | None = None

    def error_received(self, exc: Exception) -> None:
        self.sink.report_send_error(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)


class UDPSink(Sink):
    """Sends each event (bytes, or text encoded with `encoding`) as one UDP datagram.

    An event is done once the datagram was handed to the operating system: UDP does not say
    whether it arrived. Errors the peer's system reports (nothing listens on the port) are
    counted (`send_errors`) and logged; they do not fail events.
    """

    ConfigModel = UDPSinkConfig
    Config: UDPSinkConfig

    send_errors = Counter("Errors reported for datagrams sent (e.g. nothing listens there)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._transport: asyncio.DatagramTransport | None = None
        self._sender = _Sender(self)
        self._log = RateLimitedLog(L, 10.0)

    async def start(self) -> None:
        """Open the socket towards the peer (UDP: nothing is sent yet)."""
        c = self.Config
        try:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: self._sender, remote_addr=(c.host, c.port)
            )
        except OSError as exc:
            raise SocketError(
                f"{self.location()}: cannot send to {peer_name((c.host, c.port))}/udp: {exc}"
            ) from None
        self._transport = transport

    def write(self, events: list[Any], contexts: Sequence[Any]) -> Any:
        """Send every event of the batch; wait only if the system's buffer is full."""
        transport = self._transport
        if transport is None:
            raise ConnectionError(f"{self.location()}: the socket is not open (not started?)")
        limit = self.Config.max_datagram_size
        encoding = self.Config.encoding
        errors: dict[int, BaseException] = {}
        for i, event in enumerate(events):
            if isinstance(event, bytes):
                data = event
            elif isinstance(event, str):
                data = event.encode(encoding)
            else:
                errors[i] = PermanentWriteError(
                    f"{self.location()}: events must be bytes or str, not "
                    f"{type(event).__name__} (add a json.serialize processor before the sink)"
                )
                continue
            if len(data) > limit:
                errors[i] = PermanentWriteError(
                    f"{self.location()}: the event has {len(data)} bytes, more than "
                    f"max_datagram_size ({limit})"
                )
                continue
            transport.sendto(data)
        if self._sender.paused:
            return self._drained(errors)
        if errors:
            raise PartialWriteError(errors)
        return None

    async def _drained(self, errors: dict[int, BaseException]) -> None:
        while self._sender.paused and self._transport is not None:
            self._sender.resumed = asyncio.get_running_loop().create_future()
            await self._sender.resumed
        if errors:
            raise PartialWriteError(errors)

    def report_send_error(self, exc: Exception) -> None:
        """An error reported for a datagram sent earlier: counted and logged."""
        self.send_errors += 1
        self._log.warning("%s: %s: %s", self.location(), type(exc).__name__, exc)

    async def stop(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
