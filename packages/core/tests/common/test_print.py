"""Print and pprint processors and sinks."""

from __future__ import annotations

import io
import pprint
from typing import Any

import pytest

from pump import Application, ConfigError, Pipeline
from pump.common import (
    PPrintContextProcessor,
    PPrintProcessor,
    PPrintSink,
    PrintContextProcessor,
    PrintProcessor,
    PrintSink,
)

BIG = {"key": list(range(30)), "nested": {"a": "x" * 40, "b": "y" * 40}}


async def test_print_processor_prints_and_passes_events_on(run: Any) -> None:
    out = io.StringIO()
    r = await run([1, "two", {"a": 3}], lambda app, p: PrintProcessor(app, p, stream=out))
    assert out.getvalue() == "1\ntwo\n{'a': 3}\n"
    assert r.events == [1, "two", {"a": 3}]


async def test_pprint_processor_pretty_prints(run: Any) -> None:
    out = io.StringIO()
    r = await run([BIG], lambda app, p: PPrintProcessor(app, p, stream=out))
    expected = io.StringIO()
    pprint.pprint(BIG, stream=expected)
    assert out.getvalue() == expected.getvalue()
    assert out.getvalue().count("\n") > 1
    assert r.events == [BIG]


async def test_context_printers(run: Any) -> None:
    out = io.StringIO()
    r = await run(
        [1, 2],
        lambda app, p: PrintContextProcessor(app, p, stream=out),
        lambda app, p: PPrintContextProcessor(app, p, stream=out),
        context={"k": "v"},
    )
    assert out.getvalue() == "{'k': 'v'}\n" * 4
    assert r.events == [1, 2]


@pytest.mark.parametrize(
    ("sink", "render"),
    [(PrintSink, lambda e: f"{e}\n"), (PPrintSink, lambda e: pprint.pformat(e) + "\n")],
)
async def test_sinks_print_every_event(run: Any, sink: type[Any], render: Any) -> None:
    out = io.StringIO()
    events = [1, "two", BIG, None]
    r = await run(events, sink=lambda app, p: sink(app, p, stream=out))
    assert out.getvalue() == "".join(render(e) for e in events)
    assert r.pipeline.counters.events_out == 4


async def test_stdout_by_default_and_stderr_by_config(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await run(["to stdout"], sink=PrintSink)
    await run(["to stderr"], sink=lambda app, p: PrintSink(app, p, config={"stream": "stderr"}))
    captured = capsys.readouterr()
    assert captured.out == "to stdout\n"
    assert captured.err == "to stderr\n"


def test_single_event_process_of_the_sinks() -> None:
    app = Application()
    out = io.StringIO()
    PrintSink(app, Pipeline(app, "p"), stream=out).process({}, "x")
    PPrintSink(app, Pipeline(app, "p"), stream=out).process({}, {"y": 1})
    assert out.getvalue() == "x\n{'y': 1}\n"


def test_stream_config_is_validated() -> None:
    app = Application()
    with pytest.raises(ConfigError, match="stream"):
        PrintSink(app, Pipeline(app, "p"), config={"stream": "stdlog"})
