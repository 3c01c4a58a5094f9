"""flatten() and FlattenDictProcessor, with properties over generated nested dicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump import Application, Pipeline
from pump.common import FlattenDictProcessor, flatten

# Keys never contain a separator used below, so the flat keys can be split back into paths.
SEPARATORS = [".", "/", "__"]
keys = st.text(st.characters(codec="utf-8", exclude_characters="./_"), min_size=1, max_size=5)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=3)
)
nested = st.recursive(
    leaves, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=25
)
nested_dicts = st.dictionaries(keys, nested, max_size=5)


def leaves_of(
    value: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    """(path, leaf) pairs, as flatten sees them: non-empty dicts are walked, all else is a leaf."""
    out = []
    for k, v in value.items():
        if isinstance(v, dict) and v:
            out += leaves_of(v, (*path, k))
        else:
            out.append(((*path, k), v))
    return out


def renest(flat: dict[str, Any], separator: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(separator)
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def test_bspump_example() -> None:
    event = {
        "person": {
            "details": {"first_name": "John", "last_name": "Doe"},
            "address": {"country": "GB", "city": "London"},
        },
        "id": 7,
    }
    assert flatten(event) == {
        "person.details.first_name": "John",
        "person.details.last_name": "Doe",
        "person.address.country": "GB",
        "person.address.city": "London",
        "id": 7,
    }


def test_lists_are_values_unless_flattened() -> None:
    event = {"a": [1, {"b": 2}], "e": [], "d": {}}
    assert flatten(event) == event
    assert flatten(event, flatten_lists=True) == {"a.0": 1, "a.1.b": 2, "e": [], "d": {}}


def test_empty_dicts_are_kept_as_values_and_top_level_keys_untouched() -> None:
    assert flatten({}) == {}
    assert flatten({"a": {"b": {}}, 1: "x"}) == {"a.b": {}, 1: "x"}
    assert flatten({"a": {1: "x"}}) == {"a.1": "x"}


@given(nested_dicts, st.sampled_from(SEPARATORS))
def test_every_leaf_appears_once_under_its_joined_path(value: dict[str, Any], sep: str) -> None:
    flat = flatten(value, sep)
    expected = leaves_of(value)
    assert len(flat) == len(expected)
    for path, leaf in expected:
        assert flat[sep.join(path)] is leaf


@given(nested_dicts, st.sampled_from(SEPARATORS))
def test_renesting_gives_the_input_back(value: dict[str, Any], sep: str) -> None:
    assert renest(flatten(value, sep), sep) == value


async def test_processor_uses_its_config(run: Any) -> None:
    r = await run(
        [{"a": {"b": [{"c": 1}]}}],
        lambda app, p: FlattenDictProcessor(
            app, p, config={"separator": "_", "flatten_lists": True}
        ),
    )
    assert r.events == [{"a_b_0_c": 1}]
    app = Application()
    processor = FlattenDictProcessor(app, Pipeline(app, "p"))
    assert processor.flatten({"x": {"y": 1}}) == {"x.y": 1}


def test_non_dict_event_is_an_error_naming_the_component() -> None:
    app = Application()
    processor = FlattenDictProcessor(app, Pipeline(app, "p"), "flat")
    with pytest.raises(TypeError, match=r"component 'flat'.*expected a dict, got list"):
        processor.process({}, [1])
