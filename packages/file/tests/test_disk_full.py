"""A full disk (simulated with RLIMIT_FSIZE in a subprocess): the failed write is cut back, so
no torn record is left, and nothing is acknowledged that is not in the file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap

import orjson
import pytest

LIMIT = 200_000

WRITER = textwrap.dedent(
    """
    import asyncio, resource, signal, sys
    import orjson
    import pump
    from pump_file import FileCSVSink, FileJSONLinesSink

    # Past the limit a write fails with EFBIG (instead of the default: SIGXFSZ kills us).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))

    class Numbered(pump.Source):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline, "numbered")
            self.acked = []

        async def main(self):
            for b in range(400):
                events = [{{"batch": b, "i": i, "pad": "x" * 40}} for i in range(20)]
                await self.emit(events, {{}}, token=b)

        def acknowledge(self, batch):
            self.acked.append(batch.token)

    sink_cls = {{"jsonl": FileJSONLinesSink, "csv": FileCSVSink}}[sys.argv[1]]
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p", config={{"on_error": "stop", "sink_retries": 2, "retry_backoff": 0.01}})
    source = Numbered(app, pipeline)
    pipeline.build(source, sink_cls(app, pipeline, "out", config={{"path": sys.argv[2]}}))
    app.add_pipeline(pipeline)
    code = app.run()
    print(orjson.dumps({{"code": code, "acked": source.acked}}).decode())
    """
).format(limit=LIMIT)


def records(kind: str, data: bytes) -> list[dict]:
    if kind == "jsonl":
        assert data.endswith(b"\n")
        return [orjson.loads(line) for line in data.splitlines()]
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert data.endswith(b"\r\n")
    return [{"batch": int(r["batch"]), "i": int(r["i"]), "pad": r["pad"]} for r in rows]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_full_disk_leaves_no_torn_record_and_acknowledges_only_what_is_written(tmp_path, kind):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    target = tmp_path / f"out.{kind}"
    done = subprocess.run(
        [sys.executable, str(script), kind, str(target)], capture_output=True, timeout=120
    )
    result = orjson.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 1, "the pipeline should stop: the disk is full"
    assert b"File too large" in done.stderr  # the error says what happened
    data = target.read_bytes()  # published at stop, cut back to its last whole record
    assert 0 < len(data) <= LIMIT
    written = records(kind, data)  # every record parses: no torn tail
    in_file = {(r["batch"], r["i"]) for r in written}
    acked = result["acked"]
    assert acked, "some batches should have fit"
    missing = [(b, i) for b in acked for i in range(20) if (b, i) not in in_file]
    assert not missing, f"acknowledged but not in the file: {missing[:5]}"
    assert len(acked) < 400
