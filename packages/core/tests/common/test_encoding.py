"""BytesToStringParser and StringToBytesParser."""

from __future__ import annotations

from typing import Any

import pytest

from pump import Application, ConfigError, Pipeline
from pump.common import BytesToStringParser, StringToBytesParser


def make(cls: type[Any], config: dict[str, Any] | None = None) -> Any:
    app = Application()
    return cls(app, Pipeline(app, "p"), config=config)


async def test_decodes_and_encodes_utf8_by_default(run: Any) -> None:
    r = await run([b"caf\xc3\xa9", bytearray(b"abc"), memoryview(b"xyz")], BytesToStringParser)
    assert r.events == ["café", "abc", "xyz"]
    r = await run(["café"], StringToBytesParser)
    assert r.events == [b"caf\xc3\xa9"]


async def test_round_trip_in_a_configured_encoding(run: Any) -> None:
    config = {"encoding": "utf-16-le"}
    r = await run(
        ["Žluťoučký kůň", ""],
        lambda app, p: StringToBytesParser(app, p, config=config),
        lambda app, p: BytesToStringParser(app, p, config=config),
    )
    assert r.events == ["Žluťoučký kůň", ""]


def test_error_handlers() -> None:
    assert make(BytesToStringParser, {"errors": "replace"}).process({}, b"a\xffb") == "a\ufffdb"
    assert make(BytesToStringParser, {"errors": "ignore"}).process({}, b"a\xffb") == "ab"
    ascii_encoder = make(StringToBytesParser, {"encoding": "ascii", "errors": "replace"})
    assert ascii_encoder.process({}, "aéb") == b"a?b"


def test_undecodable_and_wrong_types_are_errors_naming_the_component() -> None:
    decoder, encoder = make(BytesToStringParser), make(StringToBytesParser)
    with pytest.raises(ValueError, match=r"component 'BytesToStringParser'.*cannot decode"):
        decoder.process({}, b"\xff")
    with pytest.raises(TypeError, match=r"'BytesToStringParser'.*expected bytes, got str"):
        decoder.process({}, "text")
    with pytest.raises(TypeError, match=r"'StringToBytesParser'.*expected str, got bytes"):
        encoder.process({}, b"bytes")
    with pytest.raises(ValueError, match="cannot encode as ascii"):
        make(StringToBytesParser, {"encoding": "ascii"}).process({}, "é")


def test_config_is_validated_at_construction() -> None:
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        make(BytesToStringParser, {"encoding": "klingon"})
    with pytest.raises(ConfigError, match="unknown error handler 'maybe'"):
        make(StringToBytesParser, {"errors": "maybe"})
