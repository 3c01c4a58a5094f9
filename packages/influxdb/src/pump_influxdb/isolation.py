"""Finding the lines a server refused in a batch it refused: its own hints first, then bisection.

InfluxDB refuses a write with a 4xx when some of its points are bad (a field type conflict, a
value out of range, a line it cannot parse), and says which only sometimes: 1.x and 2.x quote
lines they cannot parse (`unable to parse '<line>': ...`), 3.x lists the bad lines with their
numbers; a type conflict names a field, not a line. Depending on the server, the good points
of a refused batch were written (1.x, 3.x) or not (2.x parse errors). So the refused lines are
found by sending parts again — a point written twice is the same point (same series and time),
so sending a good line again is harmless — until each line is either accepted or refused
alone. About 2·log₂(n) requests find one bad line among n.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import orjson

#: Sends lines; returns None when the server accepted them, else its refusal.
Send = Callable[[Sequence[str]], Awaitable["Refusal | None"]]


class Refusal:
    """A server's refusal of a write that is about its points: status and message."""

    __slots__ = ("message", "status", "text", "too_large")

    def __init__(self, status: int, message: str, text: str = "") -> None:
        self.status = status
        self.message = message
        self.text = text
        #: 413: the request was too large; its halves may pass, nothing is known to be bad.
        self.too_large = status == 413


def quoted_lines(refusal: Refusal, lines: Sequence[str]) -> set[int]:
    """Indexes of the `lines` the server names as bad in its refusal (3.x numbers, quotes)."""
    named: set[int] = set()
    text = refusal.text.strip()
    if text.startswith("{") and '"line_number"' in text:
        try:
            data = orjson.loads(text).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            data = None
        if isinstance(data, list):
            for item in data:
                number = item.get("line_number") if isinstance(item, dict) else None
                if isinstance(number, int) and 1 <= number <= len(lines):
                    named.add(number - 1)
    if "unable to parse '" in refusal.message:
        message = refusal.message
        named.update(i for i, line in enumerate(lines) if f"unable to parse '{line}'" in message)
    return named


async def isolate(
    lines: Sequence[str], refusal: Refusal, send: Send
) -> tuple[dict[int, Refusal], set[int]]:
    """Which of `lines` (refused together with `refusal`) the server refuses, and which it took.

    Returns (refused index → the refusal of that line alone or as named, accepted indexes).
    An exception from `send` (the server went away) propagates; the caller fails what is
    still undecided.
    """
    refused: dict[int, Refusal] = {}
    accepted: set[int] = set()
    work: list[tuple[list[int], Refusal | None]] = [(list(range(len(lines))), refusal)]
    while work:
        part, known = work.pop()
        if known is None:
            known = await send([lines[i] for i in part])
            if known is None:
                accepted.update(part)
                continue
        if len(part) == 1:
            refused[part[0]] = known
            continue
        if not known.too_large:
            named = quoted_lines(known, [lines[i] for i in part])
            if named:
                for n in named:
                    refused[part[n]] = known
                rest = [i for n, i in enumerate(part) if n not in named]
                if rest:
                    work.append((rest, None))
                continue
        half = len(part) // 2
        work.append((part[half:], None))
        work.append((part[:half], None))
    return refused, accepted
