"""1,000,000 events: source → 3 identity processors → counting sink, against a bare loop.

Both sides make the same events from the same generator and call the same three `process()`
methods; pump also tracks every batch to completion (delivery tracking is always on). Both
run in a process tuned as pump tunes it (`pump.tuning`), and alternate round by round.

    python bench/inmem.py [--events N] [--rounds R] [--only bare_loop|pump]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Clock, add_arguments, interleave, report

import pump
import pump.tuning
from pump.common import CountingSink, IteratorSource


class Identity(pump.Processor):
    def process(self, context, event):
        return event


def make_events(n: int):
    return ({"seq": i, "value": i * 2} for i in range(n))


def run_pump(n: int) -> int:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "bench")
    sink = CountingSink(app, pipeline)
    pipeline.build(
        IteratorSource(app, pipeline, lambda: make_events(n)),
        Identity(app, pipeline, "a"),
        Identity(app, pipeline, "b"),
        Identity(app, pipeline, "c"),
        sink,
    )
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert sink.count == n and pipeline.in_flight == 0
    return sink.count


def run_bare(n: int) -> int:
    a, b, c = (Identity(None, None, x).process for x in "abc")  # type: ignore[arg-type]
    context: dict = {}
    count = 0
    for event in make_events(n):
        event = a(context, event)
        event = b(context, event)
        event = c(context, event)
        count += 1
    assert count == n
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    add_arguments(parser, ["bare_loop", "pump"], rounds=5)
    args = parser.parse_args()
    n = args.events
    # every contestant runs in the process as pump tunes it (GC and allocator), from the start
    pump.tuning.tune_runtime()
    contestants = {"bare_loop": run_bare, "pump": run_pump}
    if args.only:
        contestants = {args.only: contestants[args.only]}
    wall, cpu = interleave({k: timed(n, run) for k, run in contestants.items()}, args.rounds)
    report("inmem", wall, reference="bare_loop", subject="pump", cpu=cpu, events=n)


def timed(n: int, run):
    def contestant() -> tuple[int, Clock]:
        with Clock() as clock:
            count = run(n)
        assert count == n
        return count, clock

    return contestant


if __name__ == "__main__":
    main()
