"""Map processors (transform keys/values/items), BSPump's Mapping processors (the parts as a
list) and generators (one event per part)."""

from __future__ import annotations

from typing import Any

import pytest

from pump import Application, BuildError, Pipeline, Processor
from pump.common import (
    IteratorGenerator,
    MapItemsProcessor,
    MapKeysProcessor,
    MappingItemsGenerator,
    MappingItemsProcessor,
    MappingKeysGenerator,
    MappingKeysProcessor,
    MappingValuesGenerator,
    MappingValuesProcessor,
    MapValuesProcessor,
)


def shout(value: Any) -> Any:
    """A module-level function, importable by path from config."""
    return str(value).upper()


async def test_keys_processor_with_a_function(run: Any) -> None:
    r = await run([{"a": 1, "b": 2}], lambda app, p: MapKeysProcessor(app, p, str.upper))
    assert r.events == [{"A": 1, "B": 2}]


async def test_values_processor_with_an_override(run: Any) -> None:
    class Double(MapValuesProcessor):
        def process_value(self, value: Any) -> Any:
            return value * 2

    r = await run([{"a": 1, "b": "x"}], Double)
    assert r.events == [{"a": 2, "b": "xx"}]


async def test_items_processor_can_rename_and_leave_items_out(run: Any) -> None:
    class PublicOnly(MapItemsProcessor):
        def process_item(self, key: Any, value: Any) -> tuple[Any, Any] | None:
            if key.startswith("_"):
                return None
            return f"x_{key}", value

    event = {"a": 1, "_secret": 2, "b": 3}
    r = await run([event], PublicOnly)
    assert r.events == [{"x_a": 1, "x_b": 3}]
    assert event == {"a": 1, "_secret": 2, "b": 3}  # the input dict is not changed


async def test_function_from_config_path(run: Any) -> None:
    r = await run(
        [{"a": "x"}],
        lambda app, p: MapValuesProcessor(app, p, config={"function": f"{__name__}:shout"}),
    )
    assert r.events == [{"a": "X"}]


@pytest.mark.parametrize(
    ("cls", "method"),
    [
        (MapKeysProcessor, "process_key"),
        (MapValuesProcessor, "process_value"),
        (MapItemsProcessor, "process_item"),
    ],
)
def test_without_function_or_override_is_a_build_error(cls: type[Any], method: str) -> None:
    app = Application()
    parts = cls.__name__.replace("Map", "Mapping")
    with pytest.raises(BuildError, match=f"pass a function .* or override {method}.*use {parts}"):
        cls(app, Pipeline(app, "p"))


@pytest.mark.parametrize(
    ("processor", "expected"),
    [
        (MappingKeysProcessor, [["a", "b"], []]),
        (MappingValuesProcessor, [[1, 2], []]),
        (MappingItemsProcessor, [[("a", 1), ("b", 2)], []]),
    ],
)
async def test_bspump_mapping_processors_return_the_parts_as_a_list(
    run: Any, processor: type[Any], expected: list[Any]
) -> None:
    r = await run([{"a": 1, "b": 2}, {}], processor)
    assert r.events == expected


def test_bspump_mapping_processor_rejects_a_non_mapping_naming_the_component() -> None:
    app = Application()
    processor = MappingValuesProcessor(app, Pipeline(app, "p"), id="vals")
    with pytest.raises(TypeError, match=r"component 'vals'.*expected a dict, got str"):
        processor.process({}, "abc")


async def test_iterator_generator_emits_each_item(run: Any) -> None:
    r = await run([[1, 2], (), "ab"], IteratorGenerator)
    assert r.events == [1, 2, "a", "b"]
    assert r.pipeline.counters.events_out == 4


async def test_iterator_generator_rejects_a_non_iterable(run: Any) -> None:
    r = await run([5], IteratorGenerator, pipeline_config={"on_error": "skip"})
    assert r.events == []
    assert "expected an iterable, got int" in str(r.pipeline.errors[-1].error)


def test_non_mapping_event_is_an_error_naming_the_component() -> None:
    app = Application()
    processor = MapKeysProcessor(app, Pipeline(app, "p"), str, id="keys")
    with pytest.raises(TypeError, match=r"component 'keys'.*expected a dict, got list"):
        processor.process({}, [1, 2])


@pytest.mark.parametrize(
    ("generator", "expected"),
    [
        (MappingKeysGenerator, ["a", "b", "c"]),
        (MappingValuesGenerator, [1, 2, 3]),
        (MappingItemsGenerator, [("a", 1), ("b", 2), ("c", 3)]),
    ],
)
async def test_generators_emit_one_event_per_part(
    run: Any, generator: type[Any], expected: list[Any]
) -> None:
    r = await run([{"a": 1, "b": 2}, {}, {"c": 3}], generator)
    assert r.events == expected
    assert r.pipeline.in_flight == 0
    assert r.pipeline.counters.events_out == 3


async def test_generator_children_get_own_contexts_when_a_later_processor_writes_them(
    run: Any,
) -> None:
    class Tag(Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            context["value"] = event
            return event

    r = await run([{"a": 1, "b": 2}], MappingValuesGenerator, Tag)
    assert r.events == [1, 2]
    assert [c["value"] for c in r.contexts] == [1, 2]
