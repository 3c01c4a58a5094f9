"""JSON events: parse → add a field → serialize, through pump and through a bare orjson loop.

python bench/inmem_json.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_rate, report

import pump
from pump.common import CountingSink, IteratorSource, JsonParser, JsonSerializer


class AddField(pump.Processor):
    def process(self, context, event):
        event["processed"] = True
        return event


def make_input(n: int) -> list[bytes]:
    return [
        orjson.dumps({"seq": i, "user": f"user-{i % 1000}", "amount": i * 0.5, "tags": ["a", "b"]})
        for i in range(n)
    ]


def run_pump(lines: list[bytes]) -> int:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "bench")
    sink = CountingSink(app, pipeline)
    pipeline.build(
        IteratorSource(app, pipeline, lambda: iter(lines)),
        JsonParser(app, pipeline),
        AddField(app, pipeline),
        JsonSerializer(app, pipeline),
        sink,
    )
    app.add_pipeline(pipeline)
    assert app.run() == 0
    assert sink.count == len(lines)
    return sink.count


def run_bare(lines: list[bytes]) -> int:
    loads, dumps, add = orjson.loads, orjson.dumps, AddField(None, None).process  # type: ignore[arg-type]
    context: dict = {}
    count = 0
    for line in lines:
        out = dumps(add(context, loads(line)))
        count += out is not None
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = make_input(args.events)
    results = {"bare_orjson_loop": 0.0, "pump": 0.0}
    for _ in range(args.rounds):
        results["bare_orjson_loop"] = max(
            results["bare_orjson_loop"], best_rate(lambda: run_bare(lines), 1)
        )
        results["pump"] = max(results["pump"], best_rate(lambda: run_pump(lines), 1))
    report("inmem_json", results, reference="bare_orjson_loop", subject="pump", events=args.events)


if __name__ == "__main__":
    main()
