"""Application-wide publish/subscribe of named messages (BSPump/ASAB style: "Lookup.changed!")."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

L = logging.getLogger(__name__)


class PubSub:
    """Subscribers are called with the message name and the published arguments."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Any]] = {}

    def subscribe(self, message: str, callback: Callable[..., Any]) -> None:
        """Call `callback(message, *args, **kwargs)` on each publish of `message`.

        Bound methods are held weakly, so a subscriber that goes away unsubscribes itself.
        """
        ref: Any = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else callback
        self._subscribers.setdefault(message, []).append(ref)

    def unsubscribe(self, message: str, callback: Callable[..., Any]) -> None:
        """Stop calling `callback` for `message`."""
        kept = [r for r in self._subscribers.get(message, []) if self._resolve(r) != callback]
        self._subscribers[message] = kept

    def publish(self, message: str, *args: Any, **kwargs: Any) -> None:
        """Call every subscriber now; a coroutine subscriber is scheduled as a task."""
        for ref in list(self._subscribers.get(message, [])):
            callback = self._resolve(ref)
            if callback is None:
                self._subscribers[message].remove(ref)
                continue
            try:
                result = callback(message, *args, **kwargs)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                L.exception("subscriber %r of %r failed", callback, message)

    async def message(self, message: str) -> tuple[Any, ...]:
        """Wait for the next publish of `message`; returns its positional arguments."""
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def once(_name: str, *args: Any, **_kwargs: Any) -> None:
            if not future.done():
                future.set_result(args)

        self.subscribe(message, once)
        try:
            return await future
        finally:
            self.unsubscribe(message, once)

    @staticmethod
    def _resolve(ref: Any) -> Callable[..., Any] | None:
        if isinstance(ref, weakref.WeakMethod):
            return ref()
        return ref  # type: ignore[no-any-return]
