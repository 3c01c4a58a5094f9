"""pump.socket: TCP, Unix stream and UDP sources and sinks on asyncio alone (no dependency).

| class | type | what |
| --- | --- | --- |
| `TCPServerSource` | source `socket.tcp` | TCP listener (TLS optional): lines or frames |
| `UnixServerSource` | source `socket.unix` | the same on a Unix stream socket |
| `UDPSource` | source `socket.udp` | each datagram an event |
| `TCPClientSink` | sink `socket.tcp` | writes lines or frames to a TCP peer (TLS optional) |
| `UnixClientSink` | sink `socket.unix` | the same to a Unix stream socket |
| `UDPSink` | sink `socket.udp` | each event a datagram |

BSPump's names: `StreamServerSource` (= `TCPServerSource`), `StreamClientSink`
(= `TCPClientSink`), `DatagramSource` and `UDPSource`, `DatagramSink` (= `UDPSink`),
`TCPSource` and `TCPStreamSource` (= `TCPServerSource`).
"""

from __future__ import annotations

from pump.socket.client import (
    StreamClientConfig,
    StreamClientSinkBase,
    TCPClientSink,
    TCPClientSinkConfig,
    UnixClientSink,
    UnixClientSinkConfig,
)
from pump.socket.datagram import UDPSink, UDPSinkConfig, UDPSource, UDPSourceConfig
from pump.socket.errors import FrameError, FrameTooLarge, SocketError, TruncatedFrame
from pump.socket.framing import LengthPrefixFramer, LineFramer, frame
from pump.socket.server import (
    StreamServerConfig,
    StreamServerSourceBase,
    TCPServerSource,
    TCPServerSourceConfig,
    UnixServerSource,
    UnixServerSourceConfig,
)

#: BSPump's names (bspump.ipc, bspump.socket).
StreamServerSource = TCPServerSource
StreamClientSink = TCPClientSink
DatagramSource = UDPSource
DatagramSink = UDPSink
TCPSource = TCPStreamSource = TCPServerSource

__all__ = [
    "DatagramSink",
    "DatagramSource",
    "FrameError",
    "FrameTooLarge",
    "LengthPrefixFramer",
    "LineFramer",
    "SocketError",
    "StreamClientConfig",
    "StreamClientSink",
    "StreamClientSinkBase",
    "StreamServerConfig",
    "StreamServerSource",
    "StreamServerSourceBase",
    "TCPClientSink",
    "TCPClientSinkConfig",
    "TCPServerSource",
    "TCPServerSourceConfig",
    "TCPSource",
    "TCPStreamSource",
    "TruncatedFrame",
    "UDPSink",
    "UDPSinkConfig",
    "UDPSource",
    "UDPSourceConfig",
    "UnixClientSink",
    "UnixClientSinkConfig",
    "UnixServerSource",
    "UnixServerSourceConfig",
    "frame",
]
