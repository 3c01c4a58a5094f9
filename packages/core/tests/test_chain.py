"""The compiled loop: processors that are one function of the event are called directly."""

from __future__ import annotations

import pytest

import pump
from pump.common import FilterProcessor, FunctionProcessor


def halve(event: int) -> int:
    if event == 13:
        raise ValueError("thirteen")
    return event // 2


def is_even(event: int) -> bool:
    if event == 7:
        raise ValueError("seven")
    return event % 2 == 0


def above_twenty(event: int) -> bool:
    if event == 4:
        raise ValueError("four")
    return event > 20


def test_event_functions_are_inlined_and_adapters_are_not():
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    assert FunctionProcessor(app, pipeline, halve).inline == ("map", halve)
    assert FilterProcessor(app, pipeline, is_even).inline == ("keep", is_even)
    excluded = FilterProcessor(app, pipeline, is_even, config={"inclusive": False})
    assert excluded.inline == ("drop", is_even)
    # a (context, event) function is the processor's `process` itself: nothing to inline
    assert FunctionProcessor(app, pipeline, lambda context, event: event).inline is None


@pytest.mark.parametrize("profile_every", [0, 1])
async def test_inline_stages_drop_count_and_name_the_failing_processor(kit, profile_every):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "skip", "profile_every": profile_every})
    source = kit.RecordingSource(app, pipeline, list(range(60)), batch_size=16)
    sink = kit.CollectSink(app, pipeline, id="out")
    pipeline.build(
        source,
        FilterProcessor(app, pipeline, above_twenty, id="small", config={"inclusive": False}),
        FilterProcessor(app, pipeline, is_even, id="even"),
        FunctionProcessor(app, pipeline, halve, id="halve"),
        sink,
    )
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0

    # 4 fails in "small"; 0..20 but 4 pass "small"; 7 fails in "even"; odd ones are dropped
    assert sorted(sink.events) == [e // 2 for e in range(21) if e != 4 and e % 2 == 0]
    failed = sorted((e.component, e.event) for e in pipeline.errors)
    assert failed == [("even", 7), ("small", 4)]
    c = app.metrics()["pipelines"]["p"]["components"]
    assert (c["small"]["dropped"], c["small"]["errors"]) == (39, 1)
    assert (c["even"]["dropped"], c["even"]["errors"]) == (9, 1)
    assert (c["halve"]["events_in"], c["halve"]["events_out"]) == (10, 10)
