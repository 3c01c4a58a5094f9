"""The processor of the fault tests' pump process (amqp_worker.yaml, run with `pump run`).

It marks each event with the worker's name, and can be slow on purpose so a test can
interrupt the process mid-stream.
"""

from __future__ import annotations

import time
from typing import Any

import pump


class Tag(pump.Processor):
    """Sets `event["worker"]`; sleeps `delay` seconds per event."""

    ConfigDefaults = {"worker": "", "delay": 0.0}

    def process(self, context: dict[str, Any], event: Any) -> Any:
        delay = self.Config["delay"]
        if delay:
            time.sleep(delay)
        event["worker"] = self.Config["worker"]
        return event
