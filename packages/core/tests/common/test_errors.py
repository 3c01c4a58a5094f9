"""Failures in common processors reach the pipeline's error policy, naming the component."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from pump.common import (
    BytesToStringParser,
    FlattenDictProcessor,
    FunctionProcessor,
    HexlifyProcessor,
    JsonParser,
    JsonSerializer,
    ListSink,
    MapValuesProcessor,
    StringToBytesParser,
    TimeZoneNormalizer,
)


def boom(event: Any) -> Any:
    raise LookupError(f"no such thing as {event!r}")


CASES = [
    (lambda app, p: JsonParser(app, p, "parse"), [b'{"ok": 1}', b"{broken", b"[]"], "invalid JSON"),
    (
        lambda app, p: JsonSerializer(app, p, "dump"),
        [{"ok": 1}, {"x": {1, 2}}, {}],
        "not JSON-serializable",
    ),
    (lambda app, p: BytesToStringParser(app, p, "decode"), [b"ok", "str", b""], "expected bytes"),
    (lambda app, p: StringToBytesParser(app, p, "encode"), ["ok", b"b", ""], "expected str"),
    (lambda app, p: FlattenDictProcessor(app, p, "flat"), [{"ok": 1}, [1], {}], "expected a dict"),
    (lambda app, p: HexlifyProcessor(app, p, "hex"), [b"ok", 5, b""], "expected bytes"),
    (
        lambda app, p: MapValuesProcessor(app, p, str, "vals"),
        [{"ok": 1}, "s", {}],
        "expected a dict",
    ),
    (
        lambda app, p: TimeZoneNormalizer(app, p, "tz", config={"fields": ["t"]}),
        [{"t": datetime.datetime(2024, 1, 1)}, {"t": 5}, {}],
        "not a datetime",
    ),
    (lambda app, p: FunctionProcessor(app, p, boom, "fn"), [None, None, None], "no such thing"),
]


@pytest.mark.parametrize(("factory", "events", "message"), CASES)
async def test_dead_letter_records_name_the_component(
    run: Any, factory: Any, events: list[Any], message: str
) -> None:
    r = await run(
        events,
        factory,
        pipeline_config={"on_error": "dead_letter"},
        dead_letter=lambda app, p: ListSink(app, p, "dead"),
    )
    component = r.components[0]
    dead = r.pipeline.dead_letter.events  # type: ignore[union-attr]
    assert dead, "the failing event went to the dead-letter sink"
    assert all(record["component"] == component.Id for record in dead)
    assert message in dead[0]["error"]
    assert r.pipeline.in_flight == 0
    assert len(r.events) + len(dead) == len(events)
    assert component.counters.errors == len(dead)


@pytest.mark.parametrize(("factory", "events", "message"), CASES)
async def test_stop_policy_stops_the_pipeline_on_the_component(
    run: Any, factory: Any, events: list[Any], message: str
) -> None:
    r = await run(events, factory)
    component = r.components[0]
    assert r.pipeline.is_error()
    assert r.pipeline.error is not None
    assert r.pipeline.error.component == component.Id
    assert message in str(r.pipeline.error.error)
    if not isinstance(component, FunctionProcessor):
        # The message itself names the component, for logs that show only the exception.
        assert f"component '{component.Id}'" in str(r.pipeline.error.error)
    assert r.app.failed == [r.pipeline]
