"""A source of events from any iterable or async iterable."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pump.common.callables import import_callable
from pump.config import ComponentConfig
from pump.context import SharedContext
from pump.errors import BuildError
from pump.source import Source

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

EventIterable = Iterable[Any] | AsyncIterable[Any]

_END = object()


class _Failed:
    """Wraps an exception raised by an async iterator, to re-raise it in `main()`."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class IteratorSourceConfig(ComponentConfig):
    """Settings of a IteratorSource."""

    batch_size: int = Field(1024, gt=0, description="Most events handed over at once")


class IteratorSource(Source):
    """Emits the items of an iterable (or async iterable) as events, in batches; then ends.

    `iterator` may also be a callable returning one (BSPump passed a callable), which is
    called each time the source starts. A synchronous iterable is read on the event loop,
    so it must not block (no sockets, no slow files); wrap those in an async iterable.
    Items of an async iterable are emitted as soon as they come: a batch holds whatever
    arrived while the previous one was being handed over, up to `batch_size`.
    """

    ConfigModel = IteratorSourceConfig
    Config: IteratorSourceConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        iterator: EventIterable | Callable[[], EventIterable] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        if iterator is None:
            raise BuildError(f"{self.location()}: pass the iterable of events")
        if isinstance(iterator, str):
            # from YAML: "module:function" names a callable returning the iterable; a string is
            # never meant as an iterable of characters
            iterator = import_callable(iterator, self.location())
        self.Iterator = iterator
        self.BatchSize: int = self.Config["batch_size"]
        #: The context every event gets (read-only, shared by the events of a batch).
        self.Context: dict[str, Any] = dict(context or {})

    def _iterable(self) -> EventIterable:
        source = self.Iterator
        if not isinstance(source, (Iterable, AsyncIterable)) and callable(source):
            source = source()
        if not isinstance(source, (Iterable, AsyncIterable)):
            raise TypeError(f"{self.location()}: {type(source).__name__} is not iterable")
        return source

    async def main(self) -> None:
        """Emit every item, `batch_size` at a time, then return."""
        source = self._iterable()
        if isinstance(source, AsyncIterable):
            await self._emit_async(source)
            return
        it, n, emit, context = iter(source), self.BatchSize, self.emit, self.Context
        while batch := list(itertools.islice(it, n)):
            await emit(batch, SharedContext(context))
            del batch

    async def _emit_async(self, source: AsyncIterable[Any]) -> None:
        # A reader task fills a bounded queue; batches take whatever is queued, so a slow
        # iterator gives small, prompt batches and a fast one full batches.
        n = self.BatchSize
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=n)
        reader = asyncio.get_running_loop().create_task(self._read(source.__aiter__(), queue))
        try:
            end: Any = None
            while end is None:
                batch = [await queue.get()]
                while len(batch) < n and not queue.empty():
                    batch.append(queue.get_nowait())
                if batch[-1] is _END or isinstance(batch[-1], _Failed):
                    end = batch.pop()
                if batch:
                    await self.emit(batch, SharedContext(self.Context))
            if isinstance(end, _Failed):
                raise end.error
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    @staticmethod
    async def _read(it: AsyncIterator[Any], queue: asyncio.Queue[Any]) -> None:
        try:
            async for item in it:
                await queue.put(item)
        except Exception as exc:
            await queue.put(_Failed(exc))
        else:
            await queue.put(_END)
