"""Follow mode of the file sources: tail files like `tail -F`, through rotation and truncation.

A followed file is neither locked nor post-processed: its claim only carries its saved
position, which is kept by the source like any other (`claim.extra["followed"]`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from pump_file.claims import FileClaim
from pump_file.compression import compression_of

if TYPE_CHECKING:
    from pump_file.source import FileSource, Reading

L = logging.getLogger(__name__)


class Follower:
    """Follows every file the source's patterns match, each in its own task, until cancelled."""

    def __init__(self, source: FileSource) -> None:
        self.source = source

    async def run(self) -> None:
        """Rescan every `scan_interval` (1 s by default); follow each new path found."""
        source = self.source
        loop = asyncio.get_running_loop()
        tasks: dict[str, asyncio.Task[None]] = {}
        interval = source.Config.scan_interval or 1.0
        try:
            while True:
                found = await source._thread(source.Finder.find)
                if not found and not tasks:
                    await source.nothing_found(final=False)
                for path in found:
                    task = tasks.get(path)
                    if task is None or task.done():
                        tasks[path] = loop.create_task(self.follow(path))
                await asyncio.sleep(interval)
        finally:
            for task in tasks.values():
                task.cancel()
            for task in tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def follow(self, path: str) -> None:
        """Tail one path; across rotations and truncations until it disappears."""
        source = self.source
        restart = False
        while True:
            try:
                opened = await source._thread(
                    self.open, path, restart, on_cancel=lambda o: o and o[1].close()
                )
            except Exception as exc:
                source.counters.errors += 1
                L.error("%s: cannot follow %s: %s", source.location(), path, exc)
                return
            if opened is None:
                return
            claim, reading = opened
            source._claims[claim.key] = claim
            try:
                again = await self.tail(claim, reading)
            except Exception as exc:
                source.counters.errors += 1
                L.error(
                    "%s: following %s failed at %d: %s",
                    source.location(),
                    path,
                    claim.emitted,
                    exc,
                )
                again = False
            finally:
                reading.close()  # cancelled (stop): the claim stays, and its position is saved
            # rotated, truncated or gone: the path's position belongs to what comes next
            claim.reading_done = True
            source._settle(claim)
            if not again:
                return
            restart = True

    def open(self, path: str, restart: bool) -> tuple[FileClaim, Reading] | None:
        """Open a followed file at its saved position (worker thread).

        With `restart` it is read from the start: it was rotated or truncated.
        """
        source = self.source
        config = source.Config
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        claim = FileClaim(path, path, st.st_ino, st.st_dev, None)
        claim.extra["followed"] = True
        codec = compression_of(path, config.compression)
        position = None if restart else source.Positions.load(path)
        if (
            position is not None
            and position.same_file(st)
            and (codec or position.offset <= st.st_size)
        ):
            claim.start_at(position.offset, position.line)
        elif not restart and position is None and config.start_at == "end" and codec is None:
            claim.start_at(st.st_size, count_lines(path, st.st_size) + 1)
        reading = source._open(claim)
        stream = reading.stream
        if stream is not None and hasattr(stream, "fileno"):
            now = os.fstat(stream.fileno())
            if (now.st_ino, now.st_dev) != (claim.ino, claim.dev):
                # rotated between stat and open: read the file now there instead
                claim.ino, claim.dev = now.st_ino, now.st_dev
                reading.close()
                claim.start_at(0, 1)
                reading = source._open(claim)
        claim.extra["codec"] = codec
        return claim, reading

    async def tail(self, claim: FileClaim, reading: Reading) -> bool:
        """Hand over what the file gets; True when it was rotated or truncated (open it again)."""
        source = self.source
        interval = source.Config.follow_interval
        flush_after = max(interval * 4, 1.0)
        last_data = time.monotonic()
        if claim.extra["codec"] is not None:
            # A compressed file cannot grow in place: read it to its end once, then idle, so
            # it is not read again (its position is saved like any other).
            await source._pump(claim, reading, final=True)
            await asyncio.Event().wait()
        while not claim.rejected:
            if await source._pump(claim, reading, final=False):
                last_data = time.monotonic()
                continue
            state = await source._thread(followed_state, claim, reading)
            if state == "rotated" or state == "gone":
                await source._pump(claim, reading, final=True)
                L.info("%s: %s was %s", source.location(), claim.path, state)
                return state == "rotated"
            if state == "truncated":
                L.warning(
                    "%s: %s was truncated; reading it from the start",
                    source.location(),
                    claim.path,
                )
                return True
            if time.monotonic() - last_data >= flush_after:
                chunk = await source._thread(reading.flush)
                if chunk is not None:
                    await source._hand_over(claim, chunk)
            await asyncio.sleep(interval)
        return False


def followed_state(claim: FileClaim, reading: Reading) -> str:
    """same, rotated (a new file at the path), truncated, or gone."""
    try:
        st = os.stat(claim.path)
    except FileNotFoundError:
        return "gone"
    if (st.st_ino, st.st_dev) != (claim.ino, claim.dev):
        return "rotated"
    stream = reading.stream
    if stream is not None and st.st_size < reading.rewind_point():
        return "truncated"
    return "same"


def count_lines(path: str, size: int) -> int:
    """Lines in the first `size` bytes of the file (where `start_at: end` begins)."""
    count = 0
    with open(path, "rb") as f:
        remaining = size
        while remaining > 0:
            data = f.read(min(remaining, 1 << 20))
            if not data:
                break
            remaining -= len(data)
            count += data.count(b"\n")
    return count
