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
    """Reads `read_size` bytes at a time and hands out up to `limit` complete lines per `take`.

    A read is split into lines a slice (`slice_size` bytes) at a time, as takes need them: the
    lines are made just before they are used and freed soon after, while they are in the CPU's
    cache, rather than a whole read's worth at once.
    """

    def __init__(
        self,
        stream: BinaryIO,
        offset: int = 0,
        line: int = 1,
        read_size: int = 1 << 20,
        max_line: int = 64 << 20,
        text: bool = False,
        slice_size: int = 1 << 17,
    ) -> None:
        self.stream = stream
        #: Hand out the lines of a read that is all ASCII without `\r` as str, decoded a slice
        #: at a time (one decode and one split per slice, not a split, a join and a decode per
        #: take); for encodings that decode ASCII as itself. Other reads come out as bytes.
        self.text = text
        #: Byte offset just after the last line handed out.
        self.offset = offset
        #: Number of the next line to hand out.
        self.line = line
        self.read_size = read_size
        self.slice_size = slice_size
        self.max_line = max_line
        self._lines: list[Any] = []  # lines split off but not handed out
        self._next = 0
        # the last read: its complete lines from _pos to _cut are not split off yet
        self._raw = b""
        self._pos = self._cut = 0
        self._raw_text = False  # _raw is handed out as str
        self._line_length = float(1 << 30)  # bytes per line of the last slice split (none: huge)
        self._head: bytes | None = None  # a line begun in earlier reads, ended by the last one
        self._tail: list[bytes] = []  # pieces of the line after the last newline read
        self._tail_size = 0

    def in_memory(self) -> bool:
        """True when complete lines are read and not handed out yet (a take without reading)."""
        return self._next < len(self._lines) or self._head is not None or self._pos < self._cut

    def can_take(self, limit: int) -> bool:
        """True when `limit` lines are read and not handed out yet: those split off, and
        those of the read not split yet by the length of the lines split off before (with a
        margin: a take without reading hands out fewer when they are longer)."""
        lines = len(self._lines) - self._next + (self._head is not None)
        if lines >= limit:
            return True
        rest = self._cut - self._pos
        return rest > 0 and rest >= (limit - lines) * self._line_length * 1.25

    def take(self, limit: int, final: bool = False, read: bool = True) -> Lines | None:
        """Up to `limit` lines; None when no complete line is available.

        With `final`, the stream is over: a last line without `\\n` is handed out too. With
        `read=False`, only lines already read are handed out (fewer than `limit` when they run
        out).
        """
        lines: list[Any] = []
        exhausted = False
        while len(lines) < limit:
            if self._next >= len(self._lines):
                if not read and not self.in_memory():
                    break
                if not self._fill():
                    exhausted = True
                    break
                if lines and type(self._lines[0]) is not type(lines[0]):
                    break  # str and bytes lines are not handed out together
            index = self._next
            if index == 0 and len(self._lines) <= limit - len(lines):
                more = self._lines  # the whole slice: no copy
            else:
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
                if lines is self._lines:
                    lines = list(lines)
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
        if self.in_memory():  # lines read by take() and not handed out yet
            rest = self._lines[self._next :]
            parts: list[bytes] = []
            if rest:
                joined = "\n".join(rest).encode() if type(rest[0]) is str else b"\n".join(rest)
                parts += (joined, b"\n")
            if self._head is not None:
                parts.append(self._head)
            parts.append(self._raw[self._pos : self._cut])
            data = b"".join(parts)
            self._lines, self._next = [], 0
            self._drop_raw()
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
        """Split off the next lines, reading when none are left; False when the stream has no
        more."""
        if self._head is None and self._pos >= self._cut and not self._read():
            return False
        self._lines = self._split()
        self._next = 0
        return True

    def _split(self) -> list[Any]:
        """The next slice of the last read as lines (a line begun in earlier reads first)."""
        if self._head is not None:
            head, self._head = self._head, None
            line = head[:-1]
            return [line.decode("ascii") if self._plain(line) else line]
        data, pos, cut = self._raw, self._pos, self._cut
        stop = data.rfind(b"\n", pos, pos + self.slice_size) + 1
        if stop <= pos:  # a line longer than a slice
            stop = data.find(b"\n", pos + self.slice_size, cut) + 1
        if self._raw_text:
            lines: list[Any] = str(memoryview(data)[pos:stop], "ascii").split("\n")
        else:
            lines = data[pos:stop].split(b"\n")
        lines.pop()  # the slice ends with a newline: the last piece is empty
        self._line_length = (stop - pos) / len(lines)
        self._pos = stop
        if stop >= cut:
            self._drop_raw()
        return lines

    def _drop_raw(self) -> None:
        self._raw, self._pos, self._cut, self._head = b"", 0, 0, None

    def _read(self) -> bool:
        """Read until a newline comes and keep the complete lines read for `_split`; False when
        the stream has no more."""
        data = self._read_until_newline()
        if data is None:
            return False
        cut = data.rfind(b"\n") + 1
        start = 0
        if self._tail:  # the line begun before ends at the read's first newline
            start = data.find(b"\n") + 1
            self._tail.append(data[:start])
            self._head = b"".join(self._tail)
        self._keep_tail(data[cut:])
        self._raw, self._pos, self._cut = data, start, cut
        self._raw_text = self._plain(data)
        return True

    def _plain(self, data: bytes) -> bool:
        """True when `data` is handed out as str: a text reader's ASCII without `\\r`."""
        return self.text and data.isascii() and b"\r" not in data

    def _read_until_newline(self) -> bytes | None:
        """The next read that holds a newline (what came before it is in the tail); None when
        the stream has no more."""
        read = self.stream.read
        size = self.read_size
        while True:
            data = read(size)
            if not data:
                return None
            if b"\n" in data:
                return data
            self._tail.append(data)
            self._tail_size += len(data)
            if self._tail_size > self.max_line:
                raise LineTooLong(
                    f"line {self.line} at byte {self.offset} is longer than {self.max_line} "
                    "bytes (is this a text file?)"
                )

    def _keep_tail(self, rest: bytes) -> None:
        self._tail = [rest] if rest else []
        self._tail_size = len(rest)

    def _read_block(self) -> bytes | None:
        """Read until a newline comes; the bytes up to the last newline read (None: no more)."""
        data = self._read_until_newline()
        if data is None:
            return None
        cut = data.rfind(b"\n") + 1
        if self._tail:
            self._tail.append(data[:cut])
            block = b"".join(self._tail)
        else:
            block = data[:cut] if cut < len(data) else data
        self._keep_tail(data[cut:])
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
