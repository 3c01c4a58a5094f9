"""ToDataFrame, DataFrameProcessor and FromDataFrame: frames made, transformed, exploded — and
the source batches held until the frame is done; failures go to the error policy."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

import pump
from pump.deadletter import original_event
from pump.testing import CollectingSink, HarnessSource, wait_until
from pump_pandas import DataFrameProcessor, FromDataFrame, ToDataFrame

from .conftest import pipeline, rows_source, run_app


def rows(n, start=0):
    return [{"id": i, "name": f"n{i}", "amount": i * 1.5} for i in range(start, start + n)]


async def test_to_frame_emits_frames_by_size_with_declared_dtypes():
    out = []

    def build(app, p):
        out.append(CollectingSink(app, p, "out"))
        return [
            rows_source(app, p, rows(250), batch=40),
            ToDataFrame(
                app,
                p,
                config={"completion_size": 100, "dtypes": {"id": "int32", "name": "category"}},
            ),
            out[0],
        ]

    app, p, _ = pipeline(build)
    assert await run_app(app) == 0
    frames = out[0].events
    assert [len(f) for f in frames] == [100, 100, 50]  # the last one when the source ended
    assert all(isinstance(f, pd.DataFrame) for f in frames)
    assert list(pd.concat(frames)["id"]) == list(range(250))
    assert [str(t) for t in frames[0].dtypes] == ["int32", "category", "float64"]
    assert list(frames[1].index) == list(range(100))
    assert p.metrics()["aggregated"] == 250


async def test_to_frame_completes_by_timeout_and_holds_the_batches_until_written():
    app = pump.Application(exit_when_finished=False)
    p = pump.Pipeline(app, "p")
    source = HarnessSource(app, p, "src", batch_size=10)
    sink = CollectingSink(app, p, "out")
    to_frame = ToDataFrame(app, p, config={"completion_size": 1000, "completion_timeout": 0.2})
    p.build(source, to_frame, sink)
    app.add_pipeline(p)
    sink.block()
    source.feed([(None, r) for r in rows(30)])
    await app.start()
    try:
        # by its timeout, as 1000 rows never come (a loaded machine may split them in two)
        assert await wait_until(
            lambda: not source.pending and sink.writes and not to_frame.CurrentSize, 10
        )
        await asyncio.sleep(0.1)
        # the frames are not written yet: none of the three batches they came from is done
        assert [r.status for r in source.records] == ["pending"] * 3
        sink.release()
        assert await wait_until(
            lambda: [r.status for r in source.records] == ["acknowledged"] * 3, 10
        )
        assert list(pd.concat(sink.events)["id"]) == list(range(30))
    finally:
        await app.stop()


def explode_or_fail(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["id"] == 13).any():
        raise ValueError("a frame with row 13 is refused")
    return frame.assign(amount=frame["amount"] * 10)


async def test_a_raising_frame_function_dead_letters_the_whole_frame_with_its_rows():
    out = []

    def build(app, p):
        out.append(CollectingSink(app, p, "out"))
        return [
            rows_source(app, p, rows(30), batch=10),
            ToDataFrame(app, p, config={"completion_size": 10}),
            DataFrameProcessor(app, p, explode_or_fail, id="fn"),
            out[0],
        ]

    app, p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    assert [list(f["id"]) for f in out[0].events] == [list(range(0, 10)), list(range(20, 30))]
    (record,) = dead.events
    assert record["component"] == "fn" and record["event_type"] == "DataFrame"
    assert record["error"] == "ValueError: a frame with row 13 is refused"
    assert record["event_encoding"] == "dataframe"
    assert record["event"] == rows(10, start=10)  # the frame's rows, as they came in
    back = original_event(record)
    assert isinstance(back, pd.DataFrame) and list(back["id"]) == list(range(10, 20))
    assert p.metrics()["dead_lettered"] == 1 and p.in_flight == 0


async def test_rows_that_cannot_be_a_frame_fail_alone_and_the_rest_is_held():
    events = rows(20)
    events[3] = "not a row"
    events[7] = {"id": "seven", "name": "x", "amount": 1.0}  # the declared int64 refuses it
    out = []

    def build(app, p):
        out.append(CollectingSink(app, p, "out"))
        return [
            rows_source(app, p, events, batch=20),
            ToDataFrame(app, p, config={"completion_size": 50, "dtypes": {"id": "int64"}}),
            out[0],
        ]

    app, _p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    (frame,) = out[0].events
    assert list(frame["id"]) == [i for i in range(20) if i not in (3, 7)]
    assert [d["event"] for d in dead.events] == ["not a row", events[7]]
    assert "dict event" in dead.events[0]["error"]
    assert "column 'id' as int64" in dead.events[1]["error"]


async def test_from_frame_sends_one_event_per_row_and_the_frame_waits_for_them():
    app = pump.Application(exit_when_finished=False)
    p = pump.Pipeline(app, "p")
    source = HarnessSource(app, p, "src", batch_size=25)
    sink = CollectingSink(app, p, "out")
    p.build(
        source,
        ToDataFrame(app, p, config={"completion_size": 50}),
        DataFrameProcessor(app, p, lambda f: f[f["id"] % 2 == 0]),
        FromDataFrame(app, p),
        sink,
    )
    app.add_pipeline(p)
    sink.block()
    source.feed([(None, r) for r in rows(50)])
    await app.start()
    try:
        assert await wait_until(lambda: sink.writes == 1, 5)
        await asyncio.sleep(0.1)
        assert [r.status for r in source.records] == ["pending"] * 2
        sink.release()
        assert await wait_until(
            lambda: [r.status for r in source.records] == ["acknowledged"] * 2, 5
        )
    finally:
        await app.stop()
    assert sink.events == [r for r in rows(50) if r["id"] % 2 == 0]
    assert [c["frame_row"] for c in sink.contexts] == list(range(25))


async def test_processors_refuse_events_that_are_not_frames():
    out = []

    def build(app, p):
        out.append(CollectingSink(app, p, "out"))
        return [rows_source(app, p, rows(2)), DataFrameProcessor(app, p, lambda f: f), out[0]]

    app, _p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    assert not out[0].events and len(dead.events) == 2
    assert "expects DataFrame events, got dict" in dead.events[0]["error"]
    assert "pandas.to_frame" in dead.events[0]["error"]


@pytest.mark.parametrize("result", [42, [1, 2]])
async def test_a_function_must_return_a_frame_or_none(result):
    def build(app, p):
        return [
            rows_source(app, p, rows(3)),
            ToDataFrame(app, p, config={"completion_size": 3}),
            DataFrameProcessor(app, p, lambda f: result, id="fn"),
            CollectingSink(app, p, "out"),
        ]

    app, _p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    (record,) = dead.events
    assert f"returned {type(result).__name__}; it must return a DataFrame" in record["error"]
