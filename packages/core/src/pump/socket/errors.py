"""The errors of pump.socket: a socket that cannot be used, and frames that cannot be read."""

from __future__ import annotations

from pump.errors import PumpError


class SocketError(PumpError):
    """A socket component cannot listen, connect or send (the address names which)."""


class FrameError(SocketError):
    """Bytes from a peer that do not make a frame; the raw bytes go to the error policy."""


class FrameTooLarge(FrameError):
    """A line or a length-prefixed frame above `max_frame_size` (or a datagram above its limit)."""


class TruncatedFrame(FrameError):
    """The peer closed the connection in the middle of a length-prefixed frame."""
