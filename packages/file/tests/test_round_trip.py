"""Property tests: whatever is written by a sink is read back, equal, by the matching source —
for any content, any dialect, any rotation and any read size (records cut at every boundary)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump_file import (
    FileCSVSink,
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONLinesSource,
    FileLineSource,
)

from .conftest import read_all, write_all

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


def round_trip(
    sink_cls, sink_config: dict, source_cls, source_config: dict, events: list[Any]
) -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sink_config = {**sink_config, "path": str(folder / sink_config["path"])}
        source_config = {**source_config, "path": str(folder / source_config["path"])}

        async def run() -> list[Any]:
            await write_all(sink_cls, sink_config, events, batch_size=7)
            return (await read_all(source_cls, source_config))[0]

        return asyncio.run(run())


@SETTINGS
@given(st.lists(json_values, max_size=40), st.integers(0, 9), st.integers(1, 64))
def test_json_lines_round_trip(events, max_events, read_size):
    back = round_trip(
        FileJSONLinesSink,
        {"path": "part-{n:04d}.jsonl", "max_events": max_events},
        FileJSONLinesSource,
        {"path": "*.jsonl", "read_size": read_size, "batch_size": 5},
        events,
    )
    assert back == events


csv_text = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)


@SETTINGS
@given(
    st.lists(st.fixed_dictionaries({"a": csv_text, "b": csv_text, "c": csv_text}), max_size=30),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["minimal", "all", "nonnumeric"]),
    st.sampled_from(["\r\n", "\n"]),
    st.integers(0, 7),
    st.integers(1, 64),
)
def test_csv_round_trip(rows, delimiter, quoting, lineterminator, max_events, read_size):
    dialect = {"delimiter": delimiter, "quoting": quoting}
    back = round_trip(
        FileCSVSink,
        {
            "path": "part-{n:04d}.csv",
            "max_events": max_events,
            "lineterminator": lineterminator,
            **dialect,
        },
        FileCSVSource,
        {"path": "*.csv", "read_size": read_size, "batch_size": 4, **dialect},
        rows,
    )
    assert back == rows  # nonnumeric: strings are quoted on the way out, so they stay strings


@SETTINGS
@given(
    st.lists(
        st.text(
            st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30
        ),
        max_size=50,
    ),
    st.integers(1, 32),
)
def test_lines_round_trip_through_any_read_size(lines, read_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.log"
        path.write_bytes("".join(line + "\n" for line in lines).encode())

        async def run():
            return await read_all(
                FileLineSource, {"path": str(path), "read_size": read_size, "batch_size": 3}
            )

        events, contexts, _ = asyncio.run(run())
    assert events == lines
    assert [c["file_line"] for c in contexts] == list(range(1, len(lines) + 1))
