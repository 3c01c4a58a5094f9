"""1,000,000 CSV rows (6 columns) → JSON Lines: pump-file against a bare loop and pandas.

All three read the same CSV file and write one JSON object per row:
- bare_loop: `csv.DictReader` + `orjson.dumps` + a buffered file write, nothing else; it
  fsyncs like pump's sink: every `batch_size` rows (pump's batch) with `always`, once at the
  end with `on_rotate`, never with `never`;
- pump: FileCSVSource → FileJSONLinesSink, with everything pump-file does on the way: saved
  read positions, per-event contexts with line numbers, the -locked/-processed lifecycle,
  acknowledgement only after the output is flushed (fsync policy as given, default `always`);
- pandas: `read_csv` + `to_json(orient="records", lines=True)` (skipped if pandas is missing).

The contestants alternate within one process, round after round (tuned as pump tunes it,
`pump.tuning`, from the start); each one's best round counts, the spread of the rounds is
printed too, and the ratio by CPU time (every thread of the process).

    python bench/file_csv_to_jsonl.py [--rows N] [--rounds R] [--fsync always|on_rotate|never]
                                      [--only bare_loop|pump|pandas]

The last line is a JSON summary; `ratio` is pump / bare_loop.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _common import Clock, add_arguments, interleave, report

import pump
import pump.tuning
from pump_file import FileCSVSource, FileJSONLinesSink

COLUMNS = ["id", "ts", "user", "country", "amount", "status"]


def make_csv(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    countries = ["CZ", "DE", "US", "JP", "FR", "BR"]
    statuses = ["ok", "failed", "pending", "refunded"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            w.writerow(
                [
                    i,
                    f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z",
                    f"user{rnd.randrange(100_000)}",
                    rnd.choice(countries),
                    f"{rnd.random() * 1000:.2f}",
                    rnd.choice(statuses),
                ]
            )


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


BATCH = 1024  # pump's default batch_size: its sink fsyncs (at most) once per batch


def run_bare(source: Path, out: Path, fsync: str) -> Clock:
    dumps = orjson.dumps
    with Clock() as clock, source.open(newline="") as f, out.open("wb") as o:
        write = o.write
        if fsync == "always":
            sync = os.fsync
            for n, row in enumerate(csv.DictReader(f), 1):
                write(dumps(row, option=orjson.OPT_APPEND_NEWLINE))
                if n % BATCH == 0:
                    o.flush()
                    sync(o.fileno())
        else:
            for row in csv.DictReader(f):
                write(dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        if fsync != "never":
            o.flush()
            os.fsync(o.fileno())
    return clock


def run_pump(source: Path, work: Path, fsync: str) -> tuple[Clock, Path]:
    inbox = work / "in"
    inbox.mkdir()
    os.link(source, inbox / source.name)  # the source renames what it reads; keep the original
    app = pump.Application()
    pipeline = pump.Pipeline(app, "bench")
    sink = FileJSONLinesSink(app, pipeline, "out", config={"path": str(work / "out.jsonl"), "fsync": fsync})
    pipeline.build(FileCSVSource(app, pipeline, "csv", config={"path": str(inbox / "*.csv")}), sink)
    app.add_pipeline(pipeline)
    with Clock() as clock:
        assert app.run() == 0
    assert pipeline.in_flight == 0
    return clock, work / "out.jsonl"


def run_pandas(source: Path, out: Path) -> Clock:
    import pandas as pd

    with Clock() as clock:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        frame.to_json(out, orient="records", lines=True)
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fsync", default="always", choices=["always", "on_rotate", "never"])
    add_arguments(parser, ["bare_loop", "pump", "pandas"], rounds=5)
    args = parser.parse_args()
    rows, fsync = args.rows, args.fsync
    # every contestant runs in the process as pump tunes it (GC and allocator), from the start
    pump.tuning.tune_runtime()
    have_pandas = importlib.util.find_spec("pandas") is not None
    if not have_pandas and args.only in (None, "pandas"):
        print("file_csv_to_jsonl: pandas is not installed; its line is skipped (pip install pandas)")
    with tempfile.TemporaryDirectory(prefix="pump-bench-") as tmp:
        root = Path(tmp)
        source = root / "data.csv"
        make_csv(source, rows)

        def bare() -> tuple[int, Clock]:
            out = root / "bare.jsonl"
            clock = run_bare(source, out, fsync)
            assert count_lines(out) == rows
            out.unlink()
            return rows, clock

        def pump_run() -> tuple[int, Clock]:
            work = root / "pump"
            work.mkdir()
            clock, out = run_pump(source, work, fsync)
            assert count_lines(out) == rows, "pump lost or duplicated rows"
            shutil.rmtree(work)
            return rows, clock

        def pandas() -> tuple[int, Clock]:
            out = root / "pandas.jsonl"
            clock = run_pandas(source, out)
            assert count_lines(out) == rows
            out.unlink()
            return rows, clock

        contestants = {"bare_loop": bare, "pump": pump_run}
        if have_pandas:
            contestants["pandas"] = pandas
        if args.only:
            contestants = {k: v for k, v in contestants.items() if k == args.only}
        wall, cpu = interleave(contestants, args.rounds)
    report(
        "file_csv_to_jsonl",
        wall,
        reference="bare_loop",
        subject="pump",
        cpu=cpu,
        rows=rows,
        fsync=fsync,
        pandas=have_pandas,
    )


if __name__ == "__main__":
    main()
