"""JsonParser and JsonSerializer: shapes, options, errors, and the round trip."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pump import Application, ConfigError, Pipeline
from pump.common import (
    DictToJsonBytesParser,
    JsonBytesToDictParser,
    JsonParser,
    JsonSerializer,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8")),
    lambda children: (
        st.lists(children) | st.dictionaries(st.text(st.characters(codec="utf-8")), children)
    ),
    max_leaves=30,
)


def make(cls: type[Any], config: dict[str, Any] | None = None) -> Any:
    app = Application()
    return cls(app, Pipeline(app, "p"), config=config)


def test_bspump_names_are_aliases() -> None:
    assert JsonBytesToDictParser is JsonParser
    assert DictToJsonBytesParser is JsonSerializer


async def test_parses_bytes_and_str_to_dicts_and_lists(run: Any) -> None:
    r = await run([b'{"a": [1, 2.5, null]}', '[true, "x"]', bytearray(b'{"b": {}}')], JsonParser)
    assert r.events == [{"a": [1, 2.5, None]}, [True, "x"], {"b": {}}]


async def test_parses_bytes_in_another_encoding(run: Any) -> None:
    r = await run(
        ['{"name": "Žluťoučký"}'.encode("cp1250")],
        lambda app, p: JsonParser(app, p, config={"encoding": "cp1250"}),
    )
    assert r.events == [{"name": "Žluťoučký"}]


async def test_serializes_to_compact_bytes_by_default(run: Any) -> None:
    r = await run([{"b": 1, "a": [1, None]}], JsonSerializer)
    assert r.events == [b'{"b":1,"a":[1,null]}']


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"sort_keys": True}, b'{"a":2,"b":1}'),
        ({"output": "str"}, '{"b":1,"a":2}'),
        ({"append_newline": True}, b'{"b":1,"a":2}\n'),
        ({"indent": 2, "sort_keys": True}, b'{\n  "a": 2,\n  "b": 1\n}'),
    ],
)
async def test_serializer_options(run: Any, config: dict[str, Any], expected: Any) -> None:
    r = await run([{"b": 1, "a": 2}], lambda app, p: JsonSerializer(app, p, config=config))
    assert r.events == [expected]


async def test_serializes_datetimes_and_dataclasses_and_non_str_keys(run: Any) -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    r = await run(
        [{"at": when, "p": Point(1, 2), 7: "seven"}],
        lambda app, p: JsonSerializer(app, p, config={"non_str_keys": True}),
    )
    assert orjson.loads(r.events[0]) == {
        "at": "2024-05-01T12:00:00+00:00",
        "p": {"x": 1, "y": 2},
        "7": "seven",
    }


def test_unserializable_event_is_an_error_naming_the_component() -> None:
    serializer = make(JsonSerializer)
    with pytest.raises(TypeError, match=r"component 'JsonSerializer'.*not JSON-serializable"):
        serializer.process({}, {"x": object()})


def test_invalid_json_is_an_error_naming_the_component() -> None:
    parser = make(JsonParser)
    with pytest.raises(ValueError, match=r"component 'JsonParser'.*invalid JSON"):
        parser.process({}, b'{"a": ')
    with pytest.raises(ValueError, match="invalid JSON"):
        parser.process({}, b"\xff\xfe")
    with pytest.raises(TypeError, match="cannot parse int as JSON"):
        parser.process({}, 5)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="indent"):
        make(JsonSerializer, {"indent": 4})
    with pytest.raises(ConfigError, match="output"):
        make(JsonSerializer, {"output": "text"})
    with pytest.raises(ConfigError, match="unknown encoding"):
        make(JsonParser, {"encoding": "no-such-codec"})


@given(json_values)
def test_parse_of_serialize_is_identity(value: Any) -> None:
    parser, serializer = make(JsonParser), make(JsonSerializer)
    assert parser.process({}, serializer.process({}, value)) == value


@given(json_values)
def test_round_trip_through_str_output_and_sorted_keys(value: Any) -> None:
    parser = make(JsonParser)
    serializer = make(JsonSerializer, {"output": "str", "sort_keys": True, "indent": 2})
    text = serializer.process({}, value)
    assert isinstance(text, str)
    assert parser.process({}, text) == value


async def test_round_trip_through_a_pipeline(run: Any) -> None:
    events = [
        {"i": i, "f": i / 3, "s": "é" * (i % 4), "l": list(range(i % 5))} for i in range(3000)
    ]
    r = await run(events, JsonSerializer, JsonParser, JsonSerializer, JsonParser)
    assert r.events == events
