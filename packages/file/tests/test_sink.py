"""FileJSONLinesSink and what every record sink shares: templates, rotation, temporary names,
fsync policy, never overwriting, recovery of unfinished files, failed writes."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from pathlib import Path

import orjson
import pytest

import pump
from pump.common import IteratorSource, JsonParser
from pump.testing import CollectingSink, HarnessSource, wait_until
from pump_file import FileBlockSink, FileCSVSink, FileJSONLinesSink


def read_jsonl(*paths: Path) -> list:
    return [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines()]


async def test_events_are_written_and_the_file_is_published_on_stop(tmp_path, fx):
    events = [{"i": i, "s": 'é\n"x"'} for i in range(1000)]
    sink = await fx.write_all(FileJSONLinesSink, {"path": str(tmp_path / "out.jsonl")}, events)
    assert fx.files(tmp_path) == ["out.jsonl"]
    assert read_jsonl(tmp_path / "out.jsonl") == events
    assert list(sink.published) == [str(tmp_path / "out.jsonl")]


async def test_until_it_is_finished_a_file_has_a_temporary_name(tmp_path, fx):
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    source = HarnessSource(app, pipeline, "feed", batch_size=10)
    pipeline.build(
        source, FileJSONLinesSink(app, pipeline, "out", config={"path": str(tmp_path / "a.jsonl")})
    )
    app.add_pipeline(pipeline)
    records = source.feed([(None, {"i": i}) for i in range(30)])
    await app.start()
    for _ in range(200):
        if all(r.status == "acknowledged" for r in records):
            break
        await asyncio.sleep(0.01)
    # acknowledged means in the (temporary) file already
    assert fx.files(tmp_path) == [".a.jsonl.inprogress"]
    assert read_jsonl(tmp_path / ".a.jsonl.inprogress") == [{"i": i} for i in range(30)]
    await app.stop()
    assert fx.files(tmp_path) == ["a.jsonl"]


async def test_rotation_by_event_count_is_exact(tmp_path, fx):
    events = [{"i": i} for i in range(1000)]
    await fx.write_all(
        FileJSONLinesSink,
        {"path": str(tmp_path / "part-{n}.jsonl"), "max_events": 300},
        events,
        batch_size=128,
    )
    names = ["part-0.jsonl", "part-1.jsonl", "part-2.jsonl", "part-3.jsonl"]
    assert fx.files(tmp_path) == names
    assert [len(read_jsonl(tmp_path / n)) for n in names] == [300, 300, 300, 100]
    assert read_jsonl(*(tmp_path / n for n in names)) == events


async def test_rotation_by_size_keeps_every_file_under_the_limit(tmp_path, fx):
    events = [{"i": i, "pad": "x" * (i % 40)} for i in range(2000)]
    await fx.write_all(
        FileJSONLinesSink,
        {"path": str(tmp_path / "{n:04d}.jsonl"), "max_bytes": 4096},
        events,
        batch_size=300,
    )
    paths = sorted(tmp_path.iterdir())
    assert len(paths) > 10
    assert all(p.stat().st_size <= 4096 for p in paths)
    assert read_jsonl(*paths) == events


async def test_rotation_by_age_and_closing_idle_files(tmp_path, fx):
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    source = fx.QueueSource(app, pipeline)
    sink = FileJSONLinesSink(
        app,
        pipeline,
        "out",
        config={"path": str(tmp_path / "{n}.jsonl"), "max_age": 0.3, "close_idle": 0.3},
    )
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    for i in range(8):
        source.queue.put_nowait([{"i": i}])
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.8)
    # all finished by age or idleness while the app still runs
    published = fx.files(tmp_path)
    assert len(published) >= 2 and not any(n.endswith(".inprogress") for n in published)
    await app.stop()
    assert sorted(e["i"] for e in read_jsonl(*sorted(tmp_path.iterdir()))) == list(range(8))


async def test_templates_route_events_by_field_and_date(tmp_path, fx):
    events = [{"country": c, "i": i} for i, c in enumerate(["CZ", "DE", "CZ", "US", "../etc"])]
    await fx.write_all(
        FileJSONLinesSink, {"path": str(tmp_path / "{date:%Y}" / "{country}.jsonl")}, events
    )
    year = str(pump_year())
    assert fx.files(tmp_path) == [
        f"{year}/.._etc.jsonl",
        f"{year}/CZ.jsonl",
        f"{year}/DE.jsonl",
        f"{year}/US.jsonl",
    ]
    assert read_jsonl(tmp_path / year / "CZ.jsonl") == [events[0], events[2]]


def pump_year() -> int:
    from datetime import UTC, datetime

    return datetime.now(UTC).year


async def test_existing_files_are_never_overwritten(tmp_path, fx):
    (tmp_path / "part-0.jsonl").write_text("keep me\n")
    (tmp_path / "log.jsonl").write_text("keep me too\n")
    await fx.write_all(FileJSONLinesSink, {"path": str(tmp_path / "part-{n}.jsonl")}, [{"a": 1}])
    await fx.write_all(FileJSONLinesSink, {"path": str(tmp_path / "log.jsonl")}, [{"b": 2}])
    assert (tmp_path / "part-0.jsonl").read_text() == "keep me\n"
    assert (tmp_path / "log.jsonl").read_text() == "keep me too\n"
    assert read_jsonl(tmp_path / "part-1.jsonl") == [{"a": 1}]
    assert read_jsonl(tmp_path / "log-1.jsonl") == [{"b": 2}]


@pytest.mark.parametrize(
    ("policy", "synced"), [("always", True), ("on_rotate", True), ("never", False)]
)
async def test_fsync_policy(tmp_path, fx, monkeypatch, policy, synced):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p")
    source = HarnessSource(app, pipeline, "feed", batch_size=5)
    pipeline.build(
        source,
        FileJSONLinesSink(
            app, pipeline, "out", config={"path": str(tmp_path / "a.jsonl"), "fsync": policy}
        ),
    )
    app.add_pipeline(pipeline)
    records = source.feed([(None, {"i": i}) for i in range(20)])
    await app.start()
    for _ in range(200):
        if all(r.status == "acknowledged" for r in records):
            break
        await asyncio.sleep(0.01)
    synced_before_stop = bool(calls)
    await app.stop()
    assert synced_before_stop == (policy == "always")
    assert bool(calls) == synced


async def test_an_unfinished_file_of_a_dead_sink_is_repaired_and_published(tmp_path, fx):
    (tmp_path / ".part-0.jsonl.inprogress").write_bytes(b'{"i":0}\n{"i":1}\n{"i":2, "tor')
    (tmp_path / ".part-1.jsonl.inprogress").write_bytes(b'{"only": "torn')
    (tmp_path / ".unrelated.txt.inprogress").write_bytes(b"not ours")
    sink = await fx.write_all(
        FileJSONLinesSink, {"path": str(tmp_path / "part-{n}.jsonl")}, [{"i": 3}]
    )
    assert fx.files(tmp_path) == [".unrelated.txt.inprogress", "part-0.jsonl", "part-1.jsonl"]
    assert read_jsonl(tmp_path / "part-0.jsonl") == [{"i": 0}, {"i": 1}]
    assert read_jsonl(tmp_path / "part-1.jsonl") == [{"i": 3}]
    assert str(tmp_path / "part-0.jsonl") in sink.published


async def test_a_file_a_live_sink_writes_is_left_alone(tmp_path, fx):
    import fcntl

    live = tmp_path / ".part-0.jsonl.inprogress"
    live.write_bytes(b'{"i":0}\n{"half')
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        await fx.write_all(
            FileJSONLinesSink, {"path": str(tmp_path / "part-{n}.jsonl")}, [{"i": 1}]
        )
    finally:
        os.close(fd)
    assert live.read_bytes() == b'{"i":0}\n{"half'
    assert read_jsonl(tmp_path / "part-1.jsonl") == [{"i": 1}]


async def test_an_event_that_cannot_be_serialised_fails_alone(tmp_path, fx):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter", "sink_retries": 0})
    pipeline.build(
        IteratorSource(app, pipeline, [{"ok": 1}, {"bad": {1, 2}}, {"ok": 2}]),
        FileJSONLinesSink(app, pipeline, "out", config={"path": str(tmp_path / "a.jsonl")}),
    )
    pipeline.set_dead_letter(dead := CollectingSink(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    assert read_jsonl(tmp_path / "a.jsonl") == [{"ok": 1}, {"ok": 2}]
    # the dead letter holds the event made JSON-safe (a set becomes a list), so any sink takes it
    assert [r["event"] for r in dead.events] == [{"bad": [1, 2]}]
    await fx.write_all(
        FileJSONLinesSink,
        {"path": str(tmp_path / "b.jsonl"), "non_serializable": "str", "sort_keys": True},
        [{"z": 1, "a": {3}}],
    )
    assert (tmp_path / "b.jsonl").read_text() == '{"a":"{3}","z":1}\n'


async def test_a_write_error_fails_the_batch_and_says_where(tmp_path, fx, caplog):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    app = pump.Application()
    pipeline = pump.Pipeline(
        app, "p", config={"on_error": "stop", "sink_retries": 1, "retry_backoff": 0.01}
    )
    source = HarnessSource(app, pipeline, "feed")
    pipeline.build(
        source,
        FileJSONLinesSink(
            app, pipeline, "out", config={"path": str(tmp_path / "blocker" / "x.jsonl")}
        ),
    )
    app.add_pipeline(pipeline)
    records = source.feed([(None, {"i": 1})])
    assert await fx.run_app(app) == 1
    assert [r.status for r in records] == ["rejected"]
    assert "component 'out'" in caplog.text and "blocker" in caplog.text


class Event(dict):
    """A dict that can be weakly referenced (to see who still holds it)."""


async def test_a_failed_write_is_retried_from_its_records_and_no_event_is_kept(tmp_path):
    """The sink keeps a write's records and hands them back when it fails: the pipeline writes
    those again (each to the part it had) and has let go of the events meanwhile."""

    class CountingSink(FileJSONLinesSink):
        encoded = 0

        def encode(self, events):
            self.encoded += len(events)
            return super().encode(events)

    refs: list[weakref.ref] = []

    def events():
        for i in range(20):
            event = Event(k="ab"[i % 2], i=i)
            refs.append(weakref.ref(event))
            yield event

    out = tmp_path / "out"
    out.write_text("a file where the folder should be: writes fail until it is gone")
    app = pump.Application(exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.05, "retry_backoff_max": 0.05})
    sink = CountingSink(app, pipeline, "out", config={"path": str(out / "{k}.jsonl")})
    pipeline.build(IteratorSource(app, pipeline, events()), sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await wait_until(lambda: sink.counters.errors >= 20, 10)  # each failed once
        gc.collect()
        assert len(refs) == 20 and [r for r in refs if r() is not None] == []
        out.unlink()
        assert await wait_until(lambda: pipeline.metrics()["events_out"] == 20, 10)
    finally:
        await app.stop()
    assert sink.encoded == 20  # the retries wrote the records, not the events encoded again
    assert read_jsonl(out / "a.jsonl") == [{"k": "a", "i": i} for i in range(0, 20, 2)]
    assert read_jsonl(out / "b.jsonl") == [{"k": "b", "i": i} for i in range(1, 20, 2)]


@pytest.mark.parametrize(
    ("sink_class", "config", "bad", "written_back"),
    [
        (FileJSONLinesSink, {}, {"bad": {1, 2}}, [{"ok": 1}, {"ok": 2}]),
        (FileCSVSink, {"fieldnames": ["ok"]}, {"ok": 3, "extra": 4}, [{"ok": "1"}, {"ok": "2"}]),
    ],
)
async def test_a_write_failing_for_good_hands_each_event_to_the_error_policy(
    tmp_path, fx, sink_class, config, bad, written_back
):
    """Out of retries, the records come back as the events they hold (read back as the file
    would give them), the event that could not be encoded as itself, each with its error."""
    (tmp_path / "blocker").write_text("a file where a folder should be")
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter", "sink_retries": 0})
    path = str(tmp_path / "blocker" / "out-{n}.x")
    pipeline.build(
        IteratorSource(app, pipeline, [{"ok": 1}, bad, {"ok": 2}]),
        sink_class(app, pipeline, "out", config={"path": path, **config}),
    )
    pipeline.set_dead_letter(dead := CollectingSink(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    failed = sorted(dead.events, key=lambda r: r["error"].startswith("PermanentWriteError"))
    assert [r["event"] for r in failed[:2]] == written_back
    assert all(r["error"].startswith("NotADirectoryError") for r in failed[:2])
    assert failed[2]["error"].startswith("PermanentWriteError")
    assert pipeline.metrics()["events_out"] == 0


async def test_past_max_open_the_least_recently_written_file_is_finished(tmp_path, fx):
    events = [{"k": k, "i": i} for i in range(3) for k in "abcde"]
    app = pump.Application()
    config = {"path": str(tmp_path / "{k}-{n}.jsonl"), "max_open": 2}
    sink = FileJSONLinesSink(app, pump.Pipeline(app, "p"), "out", config=config)
    await sink.start()
    for event in events:  # one write at a time: the keys take turns at the open files
        await sink.write([event], [{}])
    await sink.stop()
    names = fx.files(tmp_path)
    assert not [n for n in names if n.startswith(".")]
    back = [e for n in names for e in read_jsonl(tmp_path / n)]
    assert sorted(map(str, back)) == sorted(map(str, events))
    assert len(names) > 5 and len(list(sink.published)) == len(names)  # reopened keys got new parts


async def test_a_cancelled_waiter_does_not_break_the_writer(tmp_path):
    app = pump.Application()
    sink = FileJSONLinesSink(
        app, pump.Pipeline(app, "p"), "out", config={"path": str(tmp_path / "a.jsonl")}
    )
    await sink.start()
    waiter = asyncio.ensure_future(sink.write([{"i": 1}], [{}]))
    await asyncio.sleep(0)
    waiter.cancel()  # what a stopping pipeline does to the writes it still waits for
    await asyncio.wait_for(sink.write([{"i": 2}], [{}]), 5)  # later writes complete
    await asyncio.wait_for(sink.stop(), 5)
    assert read_jsonl(tmp_path / "a.jsonl") == [
        {"i": 1},
        {"i": 2},
    ]  # written, though not acknowledged


@pytest.mark.parametrize(
    ("sink_class", "config", "bad", "message"),
    [
        (
            FileJSONLinesSink,
            {},
            {"bad": {1, 2}},
            "Type is not JSON serializable: set (non_serializable: str",
        ),
        (FileCSVSink, {"fieldnames": ["ok"]}, {"ok": 1, "extra": 2}, "keys that are not columns"),
        (
            FileCSVSink,
            {"fieldnames": ["ok"], "encoding": "ascii"},
            {"ok": "žluť"},
            "UnicodeEncodeError",
        ),
        (FileBlockSink, {"encoding": "ascii"}, "žluť", "UnicodeEncodeError"),
        (FileBlockSink, {}, 42, "a block is bytes, str, or a dict or list"),
        (FileJSONLinesSink, {"path": "{ok}.jsonl"}, {"nope": 3}, "TemplateError"),
    ],
)
async def test_an_event_a_file_sink_cannot_write_is_dead_lettered_at_once(
    tmp_path, fx, caplog, sink_class, config, bad, message
):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})  # sink_retries: -1
    good = b"fine" if sink_class is FileBlockSink else {"ok": 1}
    path = str(tmp_path / config.pop("path", "out-{n}.x"))
    pipeline.build(
        IteratorSource(app, pipeline, [good, bad, good]),
        sink_class(app, pipeline, "out", config={"path": path, **config}),
    )
    pipeline.set_dead_letter(dead := CollectingSink(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    assert "retry" not in caplog.text  # permanent: never retried
    [record] = dead.events
    assert record["error"].startswith("PermanentWriteError: pipeline 'p' component 'out'")
    assert message in record["error"]
    assert pipeline.metrics()["events_out"] == 2


async def test_a_bytes_event_json_cannot_parse_is_written_by_a_jsonl_dead_letter_sink(
    tmp_path, fx, caplog
):
    """Issue 9: a bytes event's dead letter failed `TypeError: ... bytes` and retried forever."""
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})  # sink_retries: -1
    pipeline.build(
        IteratorSource(app, pipeline, [b'{"ok": 1}', b"not json", b"\xff\xfe"]),
        JsonParser(app, pipeline, "json.parse"),
        FileJSONLinesSink(app, pipeline, "out", config={"path": str(tmp_path / "out.jsonl")}),
    )
    pipeline.set_dead_letter(
        FileJSONLinesSink(app, pipeline, "dead", config={"path": str(tmp_path / "dead.jsonl")})
    )
    app.add_pipeline(pipeline)
    assert await fx.run_app(app) == 0
    assert "retry" not in caplog.text
    assert read_jsonl(tmp_path / "out.jsonl") == [{"ok": 1}]
    records = read_jsonl(tmp_path / "dead.jsonl")
    assert [(r["event"], r["event_encoding"], r["event_type"]) for r in records] == [
        ("not json", "utf-8", "bytes"),
        ("//4=", "base64", "bytes"),
    ]
    assert all(r["component"] == "json.parse" and "invalid JSON" in r["error"] for r in records)


async def test_the_writes_of_one_round_go_to_a_part_in_one_system_call(tmp_path, monkeypatch):
    from pump_file import parts

    calls: list[int] = []
    real_write_all = parts.write_all

    def write_all(fd: int, data: bytes) -> None:
        calls.append(len(data))
        real_write_all(fd, data)

    monkeypatch.setattr(parts, "write_all", write_all)
    app = pump.Application()
    config = {"path": str(tmp_path / "out.jsonl")}
    sink = FileJSONLinesSink(app, pump.Pipeline(app, "p"), "out", config=config)
    await sink.start()
    # queued before the writer runs: one round
    pending = [sink.write([{"w": w, "i": i} for i in range(3)], [{}] * 3) for w in range(5)]
    await asyncio.gather(*pending)
    await sink.stop()
    assert len(calls) == 1
    assert read_jsonl(tmp_path / "out.jsonl") == [
        {"w": w, "i": i} for w in range(5) for i in range(3)
    ]


async def test_with_fsync_always_each_write_is_durable_when_it_returns(tmp_path, monkeypatch):
    import fcntl

    from pump_file import parts
    from pump_file import sink as sink_module

    if not parts.DSYNC:
        pytest.skip("no O_DSYNC on this platform: the sink fsyncs instead")
    synced: list[int] = []
    monkeypatch.setattr(sink_module.os, "fsync", lambda fd: synced.append(fd))
    app = pump.Application()
    config = {"path": str(tmp_path / "out.jsonl"), "fsync": "always"}
    sink = FileJSONLinesSink(app, pump.Pipeline(app, "p"), "out", config=config)
    await sink.start()
    await sink.write([{"i": 1}], [{}])
    (part,) = sink._parts.values()
    assert fcntl.fcntl(part.fd, fcntl.F_GETFL) & os.O_DSYNC  # the write itself was synced
    assert part.fd not in synced  # no fsync of the file needed after it (its folder's is)
    await sink.stop()
    on_rotate = FileJSONLinesSink(
        app, pump.Pipeline(app, "q"), "out", config={**config, "fsync": "on_rotate"}
    )
    await on_rotate.start()
    await on_rotate.write([{"i": 2}], [{}])
    (part,) = on_rotate._parts.values()
    assert not fcntl.fcntl(part.fd, fcntl.F_GETFL) & os.O_DSYNC
    await on_rotate.stop()


def test_a_part_cut_back_after_a_failed_write_is_written_on_right_after_the_cut(tmp_path):
    from pump_file import parts

    fd = os.open(tmp_path / "part", os.O_WRONLY | os.O_CREAT)
    part = parts.Part("", 0, str(tmp_path / "out"), str(tmp_path / "part"), fd, 0.0)
    parts.write_all(fd, b"whole\ntorn rec")  # a write that failed half way
    assert parts.roll_back(part, 6)
    parts.write_all(fd, b"next\n")
    os.close(fd)
    assert (tmp_path / "part").read_bytes() == b"whole\nnext\n"  # no hole of NUL bytes
