"""Waiting on an event with a timeout never loses a cancel, so looping tasks always stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

import pump
from pump.common import ListSink
from pump.waiting import wait_event


async def _loop(event: asyncio.Event) -> None:
    """A task of the shape sources and writers have: wake on an event or a tick, forever."""
    while True:
        await wait_event(event, 10.0)
        event.clear()


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_a_cancel_that_comes_as_the_event_is_set_stops_the_loop(steps: int):
    # asyncio.wait_for in Python 3.11 returns the event's result instead of raising when the
    # cancel lands between the event's waiter finishing and the outer task resuming; the loop
    # then goes round again and the task never ends (what hung a run whose tee target failed)
    event = asyncio.Event()
    task = asyncio.create_task(_loop(event))
    for _ in range(3):
        await asyncio.sleep(0)
    event.set()
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert task in done, "the cancel was lost: the task is still looping"
    assert task.cancelled()


async def test_wait_event_tells_set_from_timeout():
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True
    asyncio.get_running_loop().call_later(0.01, event.clear)
    assert await wait_event(event, None) is True


class _Stubborn(pump.Source):
    """A source whose main() swallows its cancel (a bug in a third-party source)."""

    stubborn = True

    async def main(self) -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if not self.stubborn:
                    raise


async def test_stopping_a_source_that_ignores_its_cancel_is_bounded(caplog):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"drain_timeout": 0.2})
    pipeline.build(_Stubborn(app, pipeline, id="stubborn"), ListSink(app, pipeline))
    app.add_pipeline(pipeline)
    await pipeline.start()
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(pipeline.stop(), 5.0)
    assert "source 'stubborn'" in caplog.text or "stubborn" in caplog.text
    assert "did not end when cancelled" in caplog.text
    source = pipeline.Sources[0]
    assert isinstance(source, _Stubborn) and source.task is not None and not source.task.done()
    source.stubborn = False  # the test's own loop must not keep it
    source.task.cancel()
    await asyncio.wait([source.task], timeout=1.0)
