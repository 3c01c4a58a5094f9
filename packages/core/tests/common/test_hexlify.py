"""HexlifyProcessor."""

from __future__ import annotations

from typing import Any

import pytest

from pump import Application, Pipeline
from pump.common import HexlifyProcessor


async def test_bytes_become_hex_strings(run: Any) -> None:
    r = await run([b"\x00\x01\xff", bytearray(b"AB"), b""], HexlifyProcessor)
    assert r.events == ["0001ff", "4142", ""]


async def test_separator(run: Any) -> None:
    r = await run(
        [b"\xde\xad\xbe\xef"],
        lambda app, p: HexlifyProcessor(app, p, config={"separator": ":"}),
    )
    assert r.events == ["de:ad:be:ef"]


def test_non_bytes_is_an_error_naming_the_component() -> None:
    app = Application()
    hexlify = HexlifyProcessor(app, Pipeline(app, "p"), "hex")
    with pytest.raises(TypeError, match=r"component 'hex'.*expected bytes, got str"):
        hexlify.process({}, "abc")
