"""2,000,000 CSV rows → amount * rate, a string normalisation, a filter → Parquet: pump-pandas'
vectorised path against the same transform per event in Pump, plain pandas and a bare loop.

- vectorised: DataFrameCSVSource (frames of `--chunk` rows, 4 in flight) → DataFrameProcessor →
  ParquetSink, with everything Pump does on the way (the -locked/-processed lifecycle, saved
  positions, each frame acknowledged once the Parquet file holding it is published);
- per_event: pump-file's FileCSVSource → a Processor doing the transform on each dict →
  ParquetSink (each batch of dicts made a frame);
- pandas: `read_csv` → the same transform → `to_parquet`, the whole file at once, every option
  left at its default (the idiomatic script);
- bare_loop: `csv.DictReader` → the transform per row → pyarrow tables of 65,536 rows →
  one ParquetWriter.

Every contestant writes snappy Parquet without fsync. They alternate within one process,
round after round (the slow per_event and bare_loop only in the first `--slow-rounds`); the
best round of each counts and the spread is printed.

Wall time is what the ratio is about, but on a machine shared with other work it measures
the machine as much as the code: CPU time (every thread of the process) is printed too, and is
the steadier figure. Pump's path may be faster by wall time than by CPU time: its reading
thread parses the next chunk while the previous one is transformed and written.

    python bench/dataframes.py [--rows N] [--rounds R] [--slow-rounds S] [--chunk ROWS]
                           [--only vectorised|per_event|pandas|bare_loop]

The last line is JSON: `ratio` is vectorised / pandas (wall time), `cpu_ratio` the same by
CPU time, `vectorised_over_per_event` the speed-up of the vectorised path over the per-event
one.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _common import Clock, add_arguments, interleave, report

import pump
import pump.tuning
from pump_file import FileCSVSource
from pump_pandas import DataFrameCSVSource, DataFrameProcessor, ParquetSink


def make_csv(path: Path, rows: int) -> None:
    rnd = np.random.default_rng(7)
    names = np.array([f"  User{i} " for i in range(1000)])
    pd.DataFrame(
        {
            "id": np.arange(rows),
            "user": names[rnd.integers(0, 1000, rows)],
            "amount": rnd.random(rows).round(2) * 1000,
            "rate": rnd.random(rows).round(4) + 0.5,
            "status": np.array(["paid", "open", "void"])[rnd.integers(0, 3, rows)],
        }
    ).to_csv(path, index=False)


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame["status"] == "paid"]
    return frame.assign(
        total=frame["amount"] * frame["rate"], user=frame["user"].str.strip().str.lower()
    )


def paid_row(event: dict[str, str]) -> dict[str, Any] | None:
    """The per-event transform (`transform` row by row): None for a row that is not paid."""
    if event["status"] != "paid":
        return None
    amount, rate = float(event["amount"]), float(event["rate"])
    return {
        "id": int(event["id"]),
        "user": event["user"].strip().lower(),
        "amount": amount,
        "rate": rate,
        "status": event["status"],
        "total": amount * rate,
    }


class PerEvent(pump.Processor):
    """The same transform, one dict at a time (as a BSPump processor would)."""

    def process(self, context, event):
        return paid_row(event)


def run_pump(source: Path, work: Path, vectorised: bool, chunk: int) -> Clock:
    inbox = work / "in"
    inbox.mkdir()
    os.link(source, inbox / source.name)  # the source renames what it reads
    app = pump.Application()
    pipeline = pump.Pipeline(app, "bench", config={"max_in_flight": 200_000})
    sink_config = {"path": str(work / "out/part-{n:04d}.parquet"), "fsync": False}
    if vectorised:
        config = {"path": str(inbox / "*.csv"), "chunk_rows": chunk, "max_frames_in_flight": 4}
        components = [
            DataFrameCSVSource(app, pipeline, "csv", config=config),
            DataFrameProcessor(app, pipeline, transform),
        ]
    else:
        components = [
            FileCSVSource(app, pipeline, "csv", config={"path": str(inbox / "*.csv")}),
            PerEvent(app, pipeline),
        ]
    pipeline.build(*components, ParquetSink(app, pipeline, "out", config=sink_config))
    app.add_pipeline(pipeline)
    with Clock() as clock:
        assert app.run() == 0
    return clock


def run_pandas(source: Path, out: Path) -> Clock:
    with Clock() as clock:
        transform(pd.read_csv(source)).to_parquet(out, index=False)
    return clock


def run_bare(source: Path, out: Path) -> Clock:
    with Clock() as clock, source.open(newline="") as f:
        writer = None
        rows: list[dict] = []
        for event in csv.DictReader(f):
            row = paid_row(event)
            if row is None:
                continue
            rows.append(row)
            if len(rows) == 65536:
                table = pa.Table.from_pylist(rows)
                writer = writer or pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
                rows = []
        if rows:
            table = pa.Table.from_pylist(rows)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
    return clock


def count(path: Path) -> int:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    return sum(pq.read_metadata(p).num_rows for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=262_144)
    parser.add_argument("--slow-rounds", type=int, default=2)
    add_arguments(parser, ["vectorised", "pandas", "per_event", "bare_loop"], rounds=11)
    args = parser.parse_args()
    pump.tuning.tune_runtime()
    with tempfile.TemporaryDirectory(prefix="pump-bench-") as tmp:
        root = Path(tmp)
        source = root / "data.csv"
        make_csv(source, args.rows)
        expected = len(transform(pd.read_csv(source)))

        def pump_run(vectorised: bool):
            def run() -> tuple[int, Clock]:
                work = root / "pump"
                work.mkdir()
                clock = run_pump(source, work, vectorised, args.chunk)
                assert count(work / "out") == expected, "pump lost or duplicated rows"
                shutil.rmtree(work)
                return args.rows, clock

            return run

        def plain(runner):
            def run() -> tuple[int, Clock]:
                out = root / "plain.parquet"
                clock = runner(source, out)
                assert count(out) == expected
                out.unlink()
                return args.rows, clock

            return run

        contestants = {
            "vectorised": pump_run(True),
            "pandas": plain(run_pandas),
            "per_event": pump_run(False),
            "bare_loop": plain(run_bare),
        }
        if args.only:
            contestants = {k: v for k, v in contestants.items() if k == args.only}
        slow = {"per_event": args.slow_rounds, "bare_loop": args.slow_rounds}
        wall, cpu = interleave(contestants, args.rounds, fewer=slow)
    extra = {"rows": args.rows, "chunk_rows": args.chunk}
    if "vectorised" in wall and "per_event" in wall:
        extra["vectorised_over_per_event"] = round(
            max(wall["vectorised"]) / max(wall["per_event"]), 2
        )
    report("pandas", wall, reference="pandas", subject="vectorised", cpu=cpu, **extra)


if __name__ == "__main__":
    main()
