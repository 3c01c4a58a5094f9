"""NullSink, CountingSink and ListSink."""

from __future__ import annotations

from typing import Any

from pump import Application, Pipeline
from pump.common import CountingSink, ListSink, NullSink


async def test_null_sink_discards_and_acknowledges(run: Any) -> None:
    r = await run(range(3000), sink=NullSink)
    assert r.pipeline.counters.events_out == 3000
    assert r.pipeline.in_flight == 0


async def test_counting_sink_counts_events_and_batches(run: Any) -> None:
    r = await run(range(3000), sink=CountingSink)
    assert r.sink.count == 3000
    assert r.sink.batches == 3
    app = Application()
    sink = CountingSink(app, Pipeline(app, "p"))
    sink.process({}, "x")
    assert (sink.count, sink.batches) == (1, 0)


async def test_list_sink_collects_events_and_contexts_in_order(run: Any) -> None:
    r = await run(range(2000), sink=ListSink, context={"c": 1})
    assert r.sink.events == list(range(2000))
    assert len(r.sink.contexts) == 2000
    assert all(c == {"c": 1} for c in r.sink.contexts)


def test_list_sink_process_and_clear() -> None:
    app = Application()
    sink = ListSink(app, Pipeline(app, "p"))
    sink.process({"k": 1}, "a")
    sink.write(["b", "c"], [{}, {}])
    assert sink.events == ["a", "b", "c"]
    assert sink.contexts == [{"k": 1}, {}, {}]
    sink.clear()
    assert sink.events == [] and sink.contexts == []
