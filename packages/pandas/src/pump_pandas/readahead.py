"""ReadAhead: a reader's chunks parsed in a thread of their own, one chunk ahead of their use.

Parsing a chunk (pandas' CSV parser, Arrow decoding) is most of a source's work. Done only when
the pipeline asks for the next chunk, it waits while the previous one is transformed and
written, and those wait while it parses. A reading thread that keeps one parsed chunk ready
overlaps the two, for the memory of one more chunk.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class ReadAhead(Generic[T]):
    """Iterates `items` in a daemon thread, each passed through `prepare`, at most `depth`
    prepared items ahead of the consumer. An exception there is raised by `next()` here."""

    def __init__(
        self, items: Iterator[T], prepare: Callable[[T], T], name: str, depth: int = 1
    ) -> None:
        self._items = items
        self._prepare = prepare
        self._ready: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._ended = False

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        if not self._started:
            self._started = True
            self._thread.start()
        item = self._ready.get()
        if item is _END:
            self._ended = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._ended = True
            raise item.error
        return item  # type: ignore[return-value]  # anything else is an item

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(self._prepare(item)):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failure(exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # in this thread: a generator is closed where it runs

    def _put(self, item: object) -> bool:
        """Queue an item once there is room; False when closed meanwhile."""
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it finishes the item it is at)."""
        self._stop.set()
        if not self._started:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
            return
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._ready.get(timeout=0.05)  # room, so a blocked put sees the stop
            self._thread.join(0.05)


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
