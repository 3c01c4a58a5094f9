"""Waiting in tests: until a condition holds, until a value settles, for maybe-async calls."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

POLL_INTERVAL = 0.005


async def maybe_await(value: Any) -> Any:
    """The value, awaited first when it is awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it is true (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL)
    return True


async def wait_quiet(value: Callable[[], Any], quiet: float, timeout: float) -> bool:
    """Wait until `value()` is unchanged for `quiet` seconds (True) or `timeout` passed (False)."""
    deadline = time.monotonic() + timeout
    last = value()
    since = time.monotonic()
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        now = time.monotonic()
        current = value()
        if current != last:
            last, since = current, now
        elif now - since >= quiet:
            return True
        if now >= deadline:
            return False
