"""Splitting a binary stream into lines, read in big chunks, with the byte offset after each take.

The reader never hands out a line before its `\\n` has been read (unless told the stream is
final), so a line cut by a chunk boundary, or still being written by another process, is
completed by the next read. Every take reports the offset just after its last line: the
position a source saves once those lines are done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

#: Turns the raw lines of one take into events (str, or bytes without an encoding).
DecodeLines = Callable[[list[bytes]], list[Any]]


class LineTooLong(ValueError):
    """A line exceeded the configured maximum length (a binary file, or a missing newline)."""


class Lines(NamedTuple):
    """Lines taken from the stream (without their line terminator) and where they were."""

    #: bytes; str when the reader decodes ASCII (`text`) and these came from such a block
    lines: list[Any]
    #: Number of the first line (1-based).
    first: int
    #: Byte offset of the first line, and just after the last one.
    start: int
    end: int
    #: False when the last line had no `\\n` (the end of a final stream).
    terminated: bool


class Block(NamedTuple):
    """Whole lines taken from the stream as one piece of bytes."""

    data: bytes
    #: Byte offsets of the block and just after it.
    start: int
    end: int
    #: False when the block is a last line without `\\n` (the end of a final stream).
    terminated: bool


class LineReader:
    """Reads `read_size` bytes at a time and hands out up to `limit` complete lines per `take`."""

    def __init__(
        self,
        stream: BinaryIO,
        offset: int = 0,
        line: int = 1,
        read_size: int = 1 << 20,
        max_line: int = 64 << 20,
        text: bool = False,
    ) -> None:
        self.stream = stream
        #: Hand out the lines of a read that is all ASCII without `\r` as str, decoded in one
        #: go (one decode and one split per read, not a split, a join and a decode per take);
        #: for encodings that decode ASCII as itself. Other reads come out as bytes.
        self.text = text
        #: Byte offset just after the last line handed out.
        self.offset = offset
        #: Number of the next line to hand out.
        self.line = line
        self.read_size = read_size
        self.max_line = max_line
        self._lines: list[Any] = []  # complete lines read but not handed out
        self._next = 0
        self._tail: list[bytes] = []  # pieces of the line after the last newline read
        self._tail_size = 0

    def buffered(self) -> int:
        """Complete lines read and not handed out yet."""
        return len(self._lines) - self._next

    def take(self, limit: int, final: bool = False) -> Lines | None:
        """Up to `limit` lines; None when no complete line is available.

        With `final`, the stream is over: a last line without `\\n` is handed out too.
        """
        lines: list[Any] = []
        exhausted = False
        while len(lines) < limit:
            if self._next >= len(self._lines):
                if not self._fill():
                    exhausted = True
                    break
                if lines and type(self._lines[0]) is not type(lines[0]):
                    break  # str and bytes lines are not handed out together
            index = self._next
            more = self._lines[index : index + limit - len(lines)]
            self._next = index + len(more)
            if lines:
                lines += more
            else:
                lines = more
        terminated = True
        newlines = len(lines)
        if exhausted and final and self._tail_size:
            tail: Any = b"".join(self._tail)
            if lines and type(lines[0]) is str:
                tail = tail.decode("ascii") if self._plain(tail) else None  # else next take
            if tail is not None:
                lines.append(tail)
                self._tail, self._tail_size = [], 0
                terminated = False
        if not lines:
            return None
        start, first = self.offset, self.line
        self.offset += sum(map(len, lines)) + newlines
        self.line += len(lines)
        return Lines(lines, first, start, self.offset, terminated)

    def take_block(self, final: bool = False) -> Block | None:
        """Every complete line read next, as one block of bytes; None when there is none.

        The block ends with `\\n`, except with `final` for a last line that has none.
        """
        data: bytes | None
        if self._next < len(self._lines):  # lines split by take() and not handed out yet
            rest = self._lines[self._next :]
            data = ("\n".join(rest).encode() if type(rest[0]) is str else b"\n".join(rest)) + b"\n"
            self._lines, self._next = [], 0
        else:
            data = self._read_block()
            if data is None:
                if not final or not self._tail_size:
                    return None
                data = b"".join(self._tail)
                self._tail, self._tail_size = [], 0
                start = self.offset
                self.offset += len(data)
                self.line += 1
                return Block(data, start, self.offset, False)
        start = self.offset
        self.offset += len(data)
        self.line += data.count(b"\n")
        return Block(data, start, self.offset, True)

    def _fill(self) -> bool:
        """Read until at least one complete line is buffered; False when the stream has no more."""
        block = self._read_block()
        if block is None:
            return False
        self._lines = (
            block.decode("ascii").split("\n") if self._plain(block) else block.split(b"\n")
        )
        self._lines.pop()  # the block ends with a newline: the last piece is empty
        self._next = 0
        return True

    def _plain(self, data: bytes) -> bool:
        """True when `data` is handed out as str: a text reader's ASCII without `\\r`."""
        return self.text and data.isascii() and b"\r" not in data

    def _read_block(self) -> bytes | None:
        """Read until a newline comes; the bytes up to the last newline read (None: no more)."""
        read = self.stream.read
        size = self.read_size
        while True:
            data = read(size)
            if not data:
                return None
            cut = data.rfind(b"\n") + 1
            if not cut:
                self._tail.append(data)
                self._tail_size += len(data)
                if self._tail_size > self.max_line:
                    raise LineTooLong(
                        f"line {self.line} at byte {self.offset} is longer than {self.max_line} "
                        "bytes (is this a text file?)"
                    )
                continue
            if self._tail:
                self._tail.append(data[:cut])
                block = b"".join(self._tail)
            else:
                block = data[:cut] if cut < len(data) else data
            rest = data[cut:]
            self._tail = [rest] if rest else []
            self._tail_size = len(rest)
            return block


def decoder(encoding: str | None, errors: str = "strict") -> DecodeLines:
    """A function turning raw lines into str lines (or bytes lines when `encoding` is None).

    Line terminators `\\r\\n` lose their `\\r`. The lines are decoded in one call per batch;
    that splitting the decoded text on `\\n` gives the same lines is why encodings must keep
    `\\n` a single byte (every ASCII-compatible encoding does).
    """
    if encoding is None:

        def decode_bytes(lines: list[bytes]) -> list[bytes]:
            if len(lines) == 1:
                line = lines[0]
                return [line[:-1] if line.endswith(b"\r") else line]
            data = b"\n".join(lines)
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n")
                if data.endswith(b"\r"):
                    data = data[:-1]
            return data.split(b"\n")

        return decode_bytes

    def decode_text(lines: list[bytes]) -> list[str]:
        text = b"\n".join(lines).decode(encoding, errors)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if text.endswith("\r"):
                text = text[:-1]
        return text.split("\n")

    return decode_text


def ascii_as_itself(encoding: str) -> bool:
    """True when `encoding` decodes every ASCII byte as that character (UTF-8, Latin-1, ...;
    not UTF-7 or UTF-16)."""
    ascii = bytes(range(128))
    try:
        return ascii.decode(encoding) == ascii.decode("ascii")
    except (LookupError, UnicodeError):
        return False


def ascii_compatible(encoding: str) -> bool:
    """True when `encoding` writes `\\n` and ASCII letters as one byte each (split on b'\\n')."""
    try:
        return "\n".encode(encoding) == b"\n" and "az,\r".encode(encoding) == b"az,\r"
    except (LookupError, UnicodeError):
        return False
