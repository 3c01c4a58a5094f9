"""The processor of the process-level tests' pump process (kafka_worker.yaml, run with `pump run`).

It marks each event with the worker's name, and can be slow on purpose (a pause every N
events, like CPU-bound work) so a test can interrupt the process mid-stream.
"""

from __future__ import annotations

import time
from typing import Any

import pump


class Tag(pump.Processor):
    """Sets `event["worker"]`; sleeps `pause` seconds every `pause_every` events."""

    ConfigDefaults = {"worker": "", "pause_every": 0, "pause": 0.0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = 0

    def process(self, context: dict[str, Any], event: Any) -> Any:
        self.seen += 1
        every = self.Config["pause_every"]
        if every and self.seen % every == 0:
            time.sleep(self.Config["pause"])
            print(f"progress {self.seen}", flush=True)
        event["worker"] = self.Config["worker"]
        return event
