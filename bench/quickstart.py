"""The quickstart pipeline (examples/quickstart/access-log.yaml) against a hand-written loop.

Both do the same work on the same access log (examples/quickstart/generate.py), with the
example's own functions (accesslog.py):
- bare_loop: read each file line by line, `parse`, add the country from the CSV table, drop
  health checks and static files (`is_page_view`), one `MinuteStats` row per minute of log
  time, write the requests as JSON Lines (50,000 a file), the damaged lines to a dead-letter
  file (error, file and line), the minute rows as CSV; fsync each output file once at the end;
- pump: `pump run access-log.yaml`'s Application, built from the YAML in this process, with
  everything Pump does on the way: saved read positions, per-event contexts, acknowledgement
  only after the output is written and fsynced, the tee into the second pipeline, its window
  per minute of log time checkpointed to SQLite.

    python bench/quickstart.py [--lines N] [--rounds R]

Rounds are interleaved (bare, pump, bare, pump, ...), so both see the same machine state; the
best round of each counts, and the spread (worst/best) of each is printed. The last line is a
JSON summary; `ratio` is pump / bare_loop, in input lines per second; `cpu_ratio` compares the
best CPU time of each instead (all threads), steadier on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "quickstart"))

import orjson
from _common import report
from accesslog import is_page_view, parse
from generate import lines as sample_lines

from pump.declarative import build_file

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
PER_FILE = 50_000  # the YAML's max_events


class MinuteStats:
    """The bare loop's row of one minute: the requests kept, counted when the minute ends."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def append(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def is_empty(self) -> bool:
        return not self.events

    def flush(self) -> dict[str, Any]:
        """The row (as accesslog.minute_row makes it from the window), by C-level counting."""
        events, self.events = self.events, []
        statuses = Counter(map(itemgetter("status"), events))
        classes: Counter[int] = Counter()
        for status, n in statuses.items():
            classes[status // 100] += n
        countries = Counter(map(itemgetter("country"), events))
        paths = Counter(map(itemgetter("path"), events))
        return {
            "minute": events[0]["time"][:16],
            "requests": len(events),
            "visitors": len(set(map(itemgetter("ip"), events))),
            "ok_2xx": classes[2],
            "redirect_3xx": classes[3],
            "client_error_4xx": classes[4],
            "server_error_5xx": classes[5],
            "kilobytes": round(sum(map(itemgetter("bytes"), events)) / 1000),
            "top_country": countries.most_common(1)[0][0],
            "top_page": paths.most_common(1)[0][0],
        }


def make_data(folder: Path, n: int) -> None:
    """The quickstart's two log files, as generate.py writes them."""
    folder.mkdir(parents=True)
    sample = sample_lines(n)
    half = len(sample) // 2
    for name, part in (("access-1.log", sample[:half]), ("access-2.log", sample[half:])):
        (folder / name).write_text("".join(f"{line}\n" for line in part))


def run_bare(data: Path, out: Path) -> tuple[float, dict[str, int]]:
    """The hand-written loop; (seconds, counts)."""
    start = time.perf_counter()
    with (QUICKSTART / "countries.csv").open(newline="") as f:
        countries = {row["prefix"]: row["country"] for row in csv.DictReader(f)}
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    (out / "requests").mkdir(parents=True)
    written: list[Path] = []
    stats = MinuteStats()
    rows = []
    current = ""
    requests = dead = 0
    part = None
    with (out / "dead-letter.jsonl").open("wb") as dead_file:
        for path in sorted(data.glob("access-*.log")):
            file_path = str(path)
            with path.open("rb") as f:
                for number, raw in enumerate(f, 1):
                    line = raw.decode().rstrip("\r\n")
                    try:
                        event = parse(line)
                    except Exception as exc:
                        dead += 1
                        record = {
                            "pipeline": "requests",
                            "component": "parse",
                            "error": f"{type(exc).__name__}: {exc}",
                            "event": line,
                            "context": {"file_path": file_path, "file_line": number},
                            "timestamp": time.time(),
                        }
                        dead_file.write(dumps(record, option=newline))
                        continue
                    event["country"] = countries.get(event["ip"].rsplit(".", 2)[0], "??")
                    if not is_page_view(event):
                        continue
                    minute = event["time"][:16]
                    if minute != current:  # as the minute window closes
                        if not stats.is_empty():
                            rows.append(stats.flush())
                        current = minute
                    stats.append(event)
                    if requests % PER_FILE == 0:
                        if part is not None:
                            part.close()
                        written.append(out / "requests" / f"requests-{len(written):02d}.jsonl")
                        part = written[-1].open("wb")
                    assert part is not None
                    part.write(dumps(event, option=newline))
                    requests += 1
        os.fsync(dead_file.fileno())
    if part is not None:
        os.fsync(part.fileno())
        part.close()
    if not stats.is_empty():
        rows.append(stats.flush())
    with (out / "minutes.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start, {"requests": requests, "dead": dead, "minutes": len(rows)}


def run_pump(data: Path, work: Path) -> tuple[float, dict[str, int]]:
    """access-log.yaml, run as `pump run` would from a copy of the example folder."""
    work.mkdir()
    for name in ("access-log.yaml", "countries.csv"):
        shutil.copy(QUICKSTART / name, work / name)
    (work / "data").mkdir()
    for path in data.iterdir():
        os.link(path, work / "data" / path.name)  # post_process: keep leaves them in place
    cwd = os.getcwd()
    os.chdir(work)
    try:
        start = time.perf_counter()
        app = build_file("access-log.yaml")
        assert app.run() == 0
        elapsed = time.perf_counter() - start
    finally:
        os.chdir(cwd)
    requests = app.Pipelines["requests"].metrics()
    minutes = app.Pipelines["minutes"].metrics()
    counts = {
        "requests": requests["events_out"],
        "dead": requests["dead_lettered"],
        "minutes": minutes["events_out"],
    }
    return elapsed, counts


def count_lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.lines
    times: dict[str, list[float]] = {"bare_loop": [], "pump": []}
    cpu: dict[str, list[float]] = {"bare_loop": [], "pump": []}
    with tempfile.TemporaryDirectory(prefix="pump-bench-") as tmp:
        root = Path(tmp)
        data = root / "data"
        make_data(data, n)
        expected = None
        for r in range(args.rounds):  # interleaved, so both see the same machine state
            out = root / f"bare{r}"
            started = time.process_time()
            elapsed, counts = run_bare(data, out)
            cpu["bare_loop"].append(time.process_time() - started)
            times["bare_loop"].append(elapsed)
            assert count_lines(out / "requests") == counts["requests"]
            shutil.rmtree(out)
            expected = expected or counts
            work = root / f"pump{r}"
            started = time.process_time()
            elapsed, counts = run_pump(data, work)
            cpu["pump"].append(time.process_time() - started)
            times["pump"].append(elapsed)
            assert counts == expected, f"pump {counts} != bare loop {expected}"
            assert count_lines(work / "out" / "requests") == counts["requests"]
            shutil.rmtree(work)
    results = {name: n / min(t) for name, t in times.items()}
    for name, t in times.items():
        print(
            f"quickstart: {name:<10} rounds {', '.join(f'{n / s:,.0f}' for s in t)} lines/s; "
            f"spread (worst/best) {min(t) / max(t):.2f}; best CPU {min(cpu[name]):.3f}s"
        )
    report(
        "quickstart",
        results,
        reference="bare_loop",
        subject="pump",
        lines=n,
        rounds=args.rounds,
        spread={name: round(min(t) / max(t), 3) for name, t in times.items()},
        cpu_ratio=round(min(cpu["bare_loop"]) / min(cpu["pump"]), 3),
    )


if __name__ == "__main__":
    main()
