"""Waiting for an asyncio event with a timeout, without ever losing a cancel."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until `event` is set or `timeout` seconds passed; True if it is set.

    Loops that wake on an event or a tick use this rather than `asyncio.wait_for`: in Python
    3.11 `wait_for` drops a cancel that arrives as the event is set, and a task in such a loop
    then never stops (`asyncio.timeout` counts cancels, so none is lost). No task is created.
    """
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
