"""Two pumps reading one folder never read the same file: each line is read exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections import Counter

import orjson

import pump
from pump.testing import CollectingSink
from pump_file import FileLineSource

READER = textwrap.dedent(
    """
    import sys
    import pump
    from pump_file import FileJSONLinesSink, FileLineSource

    class Tag(pump.Processor):
        def process(self, context, event):
            return {"file": context["file_path"], "line": context["file_line"], "text": event}

    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        FileLineSource(app, pipeline, "src", config={"path": sys.argv[1], "batch_size": 50}),
        Tag(app, pipeline),
        FileJSONLinesSink(app, pipeline, "out", config={"path": sys.argv[2]}),
    )
    app.add_pipeline(pipeline)
    sys.exit(app.run())
    """
)


def make_files(folder, count: int, lines: int) -> list[str]:
    folder.mkdir()
    expected = []
    for f in range(count):
        text = [f"file {f} line {i}" for i in range(lines)]
        (folder / f"{f:03d}.log").write_text("".join(t + "\n" for t in text))
        expected += text
    return expected


async def test_two_sources_in_one_process_share_the_files(tmp_path, fx):
    expected = make_files(tmp_path / "in", 40, 200)
    app = pump.Application()
    sinks = []
    for name in ("one", "two"):
        pipeline = pump.Pipeline(app, name)
        sink = CollectingSink(app, pipeline)
        pipeline.build(
            FileLineSource(
                app,
                pipeline,
                "src",
                config={"path": str(tmp_path / "in" / "*.log"), "batch_size": 50},
            ),
            sink,
        )
        app.add_pipeline(pipeline)
        sinks.append(sink)
    assert await fx.run_app(app) == 0
    seen = Counter(e for s in sinks for e in s.events)
    assert seen == Counter(expected)
    assert all(s.events for s in sinks), "one source read everything: the test did not race"


async def test_two_processes_share_the_files(tmp_path):
    expected = make_files(tmp_path / "in", 60, 500)
    script = tmp_path / "reader.py"
    script.write_text(READER)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            str(tmp_path / "in" / "*.log"),
            str(tmp_path / f"out{k}.jsonl"),
            stderr=subprocess.PIPE,
        )
        for k in range(2)
    ]
    results = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode()[-2000:] for r in results]
    written = {
        k: tmp_path / f"out{k}.jsonl" for k in range(2)
    }  # a process may have found nothing left
    outputs = {
        k: [orjson.loads(line) for line in p.read_bytes().splitlines()]
        for k, p in written.items()
        if p.exists()
    }
    assert Counter(o["text"] for out in outputs.values() for o in out) == Counter(expected)
    # every file was read by one process only
    readers: dict[str, set[int]] = {}
    for k, out in outputs.items():
        for o in out:
            readers.setdefault(o["file"], set()).add(k)
    assert all(len(r) == 1 for r in readers.values())
