"""TaskGroup: background tasks a component spawns, drains at stop and cancels on abort."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["TaskGroup"]

L = logging.getLogger(__name__)


class TaskGroup:
    """A set of fire-and-forget tasks that are never lost track of.

    Unlike `asyncio.TaskGroup`, one failing task does not cancel the others: its exception
    is logged with the owner's name (and handed to `on_error` when given), so nothing fails
    in silence. `on_idle` is called whenever the last running task finishes.
    """

    def __init__(
        self,
        owner: str,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.owner = owner
        self.on_error = on_error
        self.on_idle = on_idle
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run `coro` as a task of this group."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None:
                if self.on_error is not None:
                    self.on_error(exc)
                else:
                    L.error("%s: background task failed", self.owner, exc_info=exc)
        if not self._tasks and self.on_idle is not None:
            self.on_idle()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for every task (including ones spawned meanwhile); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            _, pending = await asyncio.wait(set(self._tasks), timeout=remaining)
            if pending and deadline is not None and loop.time() >= deadline:
                return False
        return True

    async def cancel(self) -> None:
        """Cancel every task and wait until they have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
