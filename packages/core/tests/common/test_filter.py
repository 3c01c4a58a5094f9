"""FilterProcessor: predicates of either shape, overrides, inclusive/exclusive."""

from __future__ import annotations

from typing import Any

import pytest

from pump import Application, BuildError, Pipeline
from pump.common import FilterProcessor


def is_even(event: int) -> bool:
    """A module-level predicate, importable by path from config."""
    return event % 2 == 0


async def test_keeps_events_the_predicate_accepts(run: Any) -> None:
    r = await run(range(10), lambda app, p: FilterProcessor(app, p, is_even))
    assert r.events == [0, 2, 4, 6, 8]
    # Dropped events are done: the pipeline finished and counts them as dropped.
    assert r.pipeline.in_flight == 0
    assert r.pipeline.counters.dropped == 5
    assert r.components[0].counters.dropped == 5


async def test_exclusive_drops_the_events_the_predicate_accepts(run: Any) -> None:
    r = await run(
        range(10), lambda app, p: FilterProcessor(app, p, is_even, config={"inclusive": False})
    )
    assert r.events == [1, 3, 5, 7, 9]


async def test_predicate_with_context(run: Any) -> None:
    def above_minimum(context: dict[str, Any], event: int) -> bool:
        return event > context["min"]

    r = await run(
        [1, 5, 10], lambda app, p: FilterProcessor(app, p, above_minimum), context={"min": 4}
    )
    assert r.events == [5, 10]


async def test_override_of_test(run: Any) -> None:
    class Positive(FilterProcessor):
        def test(self, context: dict[str, Any], event: Any) -> bool:
            return event > 0

    r = await run([-1, 0, 3, 7], Positive)
    assert r.events == [3, 7]


async def test_predicate_from_config_path(run: Any) -> None:
    r = await run(
        range(5),
        lambda app, p: FilterProcessor(app, p, config={"predicate": f"{__name__}:is_even"}),
    )
    assert r.events == [0, 2, 4]


def test_without_predicate_or_override_is_a_build_error() -> None:
    app = Application()
    with pytest.raises(BuildError, match="pass a predicate"):
        FilterProcessor(app, Pipeline(app, "p"))


async def test_predicate_errors_reach_the_error_policy(run: Any) -> None:
    def fragile(event: Any) -> bool:
        return 10 / event > 1

    r = await run(
        [5, 0, 20],
        lambda app, p: FilterProcessor(app, p, fragile, id="fragile"),
        pipeline_config={"on_error": "skip"},
    )
    assert r.events == [5]
    assert [(e.component, type(e.error)) for e in r.pipeline.errors] == [
        ("fragile", ZeroDivisionError)
    ]
