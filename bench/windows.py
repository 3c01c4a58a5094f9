"""Event-time tumbling windows: 1,000,000 events, 1,000 keys, 10 s windows, count per key.

Events come 1,000 per second of event time (`ts`, epoch seconds) with a random key of 1,000
(`user`). Both contestants read the same prepared list:
- bare_loop: a plain Python loop counting `(user, window start)` in a dict;
- pump: IteratorSource → `window.tumbling` (key user, time ts, size 10 s, count) → counting
  sink, with checkpointing on (SQLite state in a temporary folder, a checkpoint every second
  and at the end): each window is emitted when the watermark passes it, and every count is
  checked against the bare loop's.

    python bench/windows.py [--events N] [--rounds R] [--only bare_loop|pump]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Clock, add_arguments, interleave, report

import pump
import pump.tuning
from pump.common import IteratorSource
from pump.windows import TumblingWindow

KEYS = 1_000
RATE = 1_000  # events per second of event time
SIZE = 10
START = 1_700_000_000


def make_events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(17)
    users = [f"user-{i}" for i in range(KEYS)]
    return [{"ts": START + i / RATE, "user": rng.choice(users)} for i in range(n)]


class CountsSink(pump.Sink):
    """Keeps the counts of the windows it gets (to check them)."""

    def __init__(self, app: pump.Application, pipeline: pump.Pipeline) -> None:
        super().__init__(app, pipeline, "counts")
        self.counts: dict[tuple[str, float], int] = {}

    def write(self, events: list[Any], contexts: list[Any]) -> None:
        counts = self.counts
        for e in events:
            counts[(e["key"], e["start"])] = e["count"]


def run_pump(events: list[dict[str, Any]], state_dir: str | None) -> dict[tuple[str, float], int]:
    app = pump.Application()
    config: dict[str, Any] = {"max_in_flight": 20_000}
    if state_dir is not None:
        config.update(state_backend="sqlite", state_dir=state_dir, checkpoint_interval=1.0)
    pipeline = pump.Pipeline(app, "bench", config=config)
    sink = CountsSink(app, pipeline)
    window = TumblingWindow(
        app,
        pipeline,
        "window",
        config={
            "key": "user",
            "time": "ts",
            "time_unit": "s",
            "size": SIZE,
            "time_format": "epoch",
        },
    )
    source = IteratorSource(app, pipeline, lambda: iter(events), config={"batch_size": 10_000})
    pipeline.build(source, window, sink)
    app.add_pipeline(pipeline)
    assert app.run() == 0
    return sink.counts


def run_bare(events: list[dict[str, Any]]) -> dict[tuple[str, float], int]:
    counts: dict[tuple[str, float], int] = {}
    get = counts.get
    for event in events:
        t = event["ts"]
        window = (event["user"], t - t % SIZE)
        counts[window] = get(window, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-checkpoints", action="store_true", help="state in memory only")
    add_arguments(parser, ["bare_loop", "pump"], rounds=5)
    args = parser.parse_args()
    pump.tuning.tune_runtime()
    events = make_events(args.events)
    expected = run_bare(events)

    def bare() -> tuple[int, Clock]:
        with Clock() as clock:
            counts = run_bare(events)
        assert counts == expected
        return len(events), clock

    def with_pump() -> tuple[int, Clock]:
        with tempfile.TemporaryDirectory() as folder, Clock() as clock:
            counts = run_pump(events, None if args.no_checkpoints else folder)
        assert counts == expected, "pump's window counts differ from the bare loop's"
        return len(events), clock

    contestants = {"bare_loop": bare, "pump": with_pump}
    if args.only:
        contestants = {args.only: contestants[args.only]}
    wall, cpu = interleave(contestants, args.rounds)
    report(
        "windows",
        wall,
        reference="bare_loop",
        subject="pump",
        cpu=cpu,
        events=args.events,
        keys=KEYS,
        checkpoints=not args.no_checkpoints,
        bytewax_count_window_eps="40000-48000",
    )


if __name__ == "__main__":
    main()
