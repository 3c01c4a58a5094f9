"""A pump process for the fault tests: queue → JSON → tag with the worker's name → JSON → exchange.

    python amqp_worker.py --url URL --queue IN --exchange OUT --routing-key KEY --worker NAME

Runs until SIGTERM (graceful: drains, acknowledges, exits 0) or SIGKILL (loses nothing: what
was not acknowledged is delivered again).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

os.environ.setdefault("PUMP_IGNORE_ARGV", "1")  # our arguments are not a pump config file's

import pump
from pump.common import JsonParser, JsonSerializer
from pump_amqp import AMQPConnection, AMQPSink, AMQPSource


class Tag(pump.Processor):
    """Marks the event with the worker's name; optionally slow, so a test can interrupt mid-stream."""

    def __init__(self, app: pump.Application, pipeline: pump.Pipeline, worker: str, delay: float) -> None:
        super().__init__(app, pipeline, "tag")
        self.worker = worker
        self.delay = delay

    def process(self, context: dict[str, Any], event: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
        event["worker"] = self.worker
        return event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--routing-key", default="")
    parser.add_argument("--worker", default="worker")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per event")
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=20)
    args = parser.parse_args(argv)

    app = pump.Application(tune_runtime=False)
    app.add_connection(AMQPConnection(app, "amqp", config={"url": args.url, "reconnect_delay": 0.2}))
    pipeline = pump.Pipeline(app, "worker")
    pipeline.build(
        AMQPSource(app, pipeline, "amqp", config={
            "queue": args.queue, "prefetch_count": args.prefetch, "batch_size": args.batch_size,
        }),
        JsonParser(app, pipeline),
        Tag(app, pipeline, args.worker, args.delay),
        JsonSerializer(app, pipeline),
        AMQPSink(app, pipeline, "amqp", config={"exchange": args.exchange, "routing_key": args.routing_key}),
    )
    app.add_pipeline(pipeline)
    print("worker started", flush=True)
    return app.run()


if __name__ == "__main__":
    sys.exit(main())
