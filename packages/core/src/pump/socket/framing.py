"""Framing: a byte stream split into frames (lines, or length-prefixed), each at most a size.

A framer is fed the bytes of one connection as they arrive and appends whole frames to a list;
a frame it cannot accept is appended as its raw bytes (cut at the size limit) with an error at
the same index, so the source hands it to the pipeline's error policy instead of dropping it.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pump.socket.errors import FrameTooLarge, TruncatedFrame

#: How a stream is cut into frames (the `framing` key of the stream components).
Framing = Literal["lines", "length_prefixed"]


class Framer(Protocol):
    """Cuts the bytes of one stream into frames."""

    def feed(self, data: bytes, frames: list[bytes], errors: dict[int, BaseException]) -> bool:
        """Append the frames `data` completes; False when the stream cannot go on (close it)."""
        ...

    def end(self, frames: list[bytes], errors: dict[int, BaseException]) -> None:
        """The peer closed its side: append what is left (a last line, a truncated frame)."""
        ...

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held back."""
        ...


class LineFramer:
    """Lines ending in `\\n` (a `\\r` before it is removed); the newline is not part of a frame.

    A line longer than `max_size` is handed over cut at `max_size` as an error, and the rest of
    it, up to the next newline, is skipped. A last line without a newline is a frame too.
    """

    __slots__ = ("_partial", "_skipping", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._partial = b""
        self._skipping = False  # inside a line that was too long: drop until the next newline

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._partial)

    def feed(self, data: bytes, frames: list[bytes], errors: dict[int, BaseException]) -> bool:
        """Append the lines `data` completes."""
        if self._partial:
            data = self._partial + data
        lines = data.split(b"\n")
        partial = lines.pop()
        if self._skipping:
            if lines:  # the newline that ends the long line has come
                del lines[0]
                self._skipping = False
            else:
                partial = b""
        if lines:
            if b"\r" in data:
                lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
            if len(data) > self.max_size:  # only then can one of the lines be too long
                for line in lines:
                    if len(line) > self.max_size:
                        self._too_long(line, frames, errors)
                    else:
                        frames.append(line)
            else:
                frames.extend(lines)
        if len(partial) > self.max_size:
            self._too_long(partial, frames, errors)
            partial = b""
            self._skipping = True
        self._partial = partial
        return True

    def _too_long(self, line: bytes, frames: list[bytes], errors: dict[int, BaseException]) -> None:
        errors[len(frames)] = FrameTooLarge(
            f"a line longer than max_frame_size ({self.max_size} bytes); "
            f"its first {self.max_size} bytes are the event"
        )
        frames.append(line[: self.max_size])

    def end(self, frames: list[bytes], errors: dict[int, BaseException]) -> None:
        """A last line without a newline is a frame."""
        partial, self._partial = self._partial, b""
        if partial and not self._skipping:
            frames.append(partial[:-1] if partial.endswith(b"\r") else partial)
        self._skipping = False


class LengthPrefixFramer:
    """Frames preceded by their length: an unsigned big-endian integer of `length_bytes` bytes.

    A length above `max_size` means the stream cannot be trusted any more (a client speaking
    another protocol): the prefix is handed over as an error and the connection is closed.
    """

    __slots__ = ("_buffer", "length_bytes", "max_size")

    def __init__(self, max_size: int, length_bytes: int = 4) -> None:
        self.max_size = max_size
        self.length_bytes = length_bytes
        self._buffer = b""

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held back."""
        return len(self._buffer)

    def feed(self, data: bytes, frames: list[bytes], errors: dict[int, BaseException]) -> bool:
        """Append the frames `data` completes; False after a length above the limit."""
        buffer = self._buffer + data if self._buffer else data
        size = len(buffer)
        head = self.length_bytes
        position = 0
        while size - position >= head:
            start = position + head
            length = int.from_bytes(buffer[position:start], "big")
            if length > self.max_size:
                errors[len(frames)] = FrameTooLarge(
                    f"a length prefix of {length} bytes, above max_frame_size "
                    f"({self.max_size}); the connection is closed (the prefix is the event)"
                )
                frames.append(buffer[position:start])
                self._buffer = b""
                return False
            end = start + length
            if end > size:
                break
            frames.append(buffer[start:end])
            position = end
        self._buffer = buffer[position:] if position else buffer
        return True

    def end(self, frames: list[bytes], errors: dict[int, BaseException]) -> None:
        """An unfinished frame at the end of the stream is handed over as an error."""
        rest, self._buffer = self._buffer, b""
        if rest:
            errors[len(frames)] = TruncatedFrame(
                f"the peer closed the connection {len(rest)} bytes into a frame "
                "(the bytes received are the event)"
            )
            frames.append(rest)


def make_framer(framing: Framing, max_size: int, length_bytes: int = 4) -> Framer:
    """The framer of a `framing` setting."""
    if framing == "lines":
        return LineFramer(max_size)
    return LengthPrefixFramer(max_size, length_bytes)


def frame(data: bytes, framing: Framing, length_bytes: int = 4) -> bytes:
    """One frame as a peer expects it: the line with its newline, or the length prefix and data."""
    if framing == "lines":
        return data + b"\n"
    return len(data).to_bytes(length_bytes, "big") + data
