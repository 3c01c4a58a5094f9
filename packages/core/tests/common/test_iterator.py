"""IteratorSource: sync and async iterables, batching, contexts, the end of the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pump import Application, BuildError, ConfigError, Pipeline, SharedContext, Sink
from pump.common import CountingSink, IteratorSource


class BatchRecordingSink(Sink):
    """Records each write: its events and its contexts."""

    def __init__(self, app: Application, pipeline: Pipeline) -> None:
        super().__init__(app, pipeline)
        self.writes: list[tuple[list[Any], list[Any]]] = []

    @property
    def events(self) -> list[Any]:
        return [e for events, _ in self.writes for e in events]

    @property
    def contexts(self) -> list[Any]:
        return [c for _, contexts in self.writes for c in contexts]

    def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
        self.writes.append((list(events), list(contexts)))


async def test_emits_a_list_in_batches_of_batch_size(run: Any) -> None:
    r = await run(range(2500), sink=BatchRecordingSink)
    assert r.events == list(range(2500))
    assert [len(events) for events, _ in r.sink.writes] == [1024, 1024, 452]


async def test_batch_size_is_configurable(run: Any) -> None:
    r = await run(range(7), sink=BatchRecordingSink, source_config={"batch_size": 3})
    assert [events for events, _ in r.sink.writes] == [[0, 1, 2], [3, 4, 5], [6]]


async def test_one_shared_read_only_context_per_batch(run: Any) -> None:
    r = await run(
        range(4),
        sink=BatchRecordingSink,
        source_config={"batch_size": 2},
        context={"origin": "test"},
    )
    (_, first), (_, second) = r.sink.writes
    assert all(type(c) is SharedContext and c == {"origin": "test"} for c in first + second)
    assert first[0] is first[1]
    assert first[0] is not second[0]


async def test_a_callable_is_called_for_the_iterable(run: Any) -> None:
    pulled: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(5):
            pulled.append(i)
            yield i

    r = await run(numbers, source_config={"batch_size": 2})
    assert r.events == [0, 1, 2, 3, 4]
    assert pulled == [0, 1, 2, 3, 4]


async def test_empty_iterable_finishes(run: Any) -> None:
    r = await run([])
    assert r.events == []
    assert r.pipeline.sources_finished()


async def test_async_iterable(run: Any) -> None:
    async def numbers() -> AsyncIterator[int]:
        for i in range(3000):
            yield i

    r = await run(numbers(), sink=BatchRecordingSink)
    assert r.events == list(range(3000))
    assert max(len(events) for events, _ in r.sink.writes) <= 1024


async def test_slow_async_iterable_is_emitted_promptly_not_held_for_a_full_batch() -> None:
    app = Application()
    pipeline = Pipeline(app, "p")
    arrived: list[tuple[float, Any]] = []

    class Timed(Sink):
        def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> None:
            now = asyncio.get_running_loop().time()
            arrived.extend((now, e) for e in events)

    async def slow() -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.3)
        yield "second"

    pipeline.build(IteratorSource(app, pipeline, slow()), Timed(app, pipeline))
    app.add_pipeline(pipeline)
    start = asyncio.get_running_loop().time()
    await app.start()
    async with asyncio.timeout(3):
        while not app.finished():
            await asyncio.sleep(0.005)
    await app.stop()
    assert [e for _, e in arrived] == ["first", "second"]
    assert arrived[0][0] - start < 0.2  # did not wait for "second" to fill a batch


async def test_async_iterator_failure_puts_the_pipeline_in_error(run: Any) -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("broken feed")

    r = await run(failing())
    assert r.events == [1]
    assert r.pipeline.error is not None
    assert r.pipeline.error.component == "IteratorSource"
    assert str(r.pipeline.error.error) == "broken feed"


async def test_stopping_cancels_an_endless_async_iterator() -> None:
    app = Application()
    pipeline = Pipeline(app, "p")
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    sink = CountingSink(app, pipeline)
    pipeline.build(IteratorSource(app, pipeline, endless()), sink)
    app.add_pipeline(pipeline)
    await app.start()
    await asyncio.sleep(0.05)
    assert await app.stop(timeout=1) == 0
    assert sink.count > 0
    assert pipeline.in_flight == 0
    counted = sink.count
    await asyncio.sleep(0.02)
    assert sink.count == counted


def test_requires_an_iterable_and_a_positive_batch_size() -> None:
    app = Application()
    pipeline = Pipeline(app, "p")
    with pytest.raises(BuildError, match="pass the iterable"):
        IteratorSource(app, pipeline)
    with pytest.raises(ConfigError, match="batch_size"):
        IteratorSource(app, pipeline, [], config={"batch_size": 0})


async def test_non_iterable_is_an_error_naming_the_source(run: Any) -> None:
    r = await run(42)
    assert r.pipeline.error is not None
    assert "component 'IteratorSource'" in str(r.pipeline.error.error)
    assert "int is not iterable" in str(r.pipeline.error.error)


async def test_a_string_names_the_callable_to_import(run: Any, tmp_path, monkeypatch) -> None:
    (tmp_path / "events_module_for_test.py").write_text("def items():\n    return [1, 2, 3]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r = await run("events_module_for_test:items")
    assert r.events == [1, 2, 3]
