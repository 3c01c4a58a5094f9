"""Testing stateful pipelines: a counting processor with checkpointed state, and readers of a
state folder, for tests that kill a `pump run` and compare the counts afterwards.

    processors:
      - {class: "pump.testing.state:KeyCounter", field: key}

    totals = state_totals(tmp_path / ".pump-state" / "p", "pump.testing.state:KeyCounter")
    assert totals == Counter(expected_keys)
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field

from pump.config import ComponentConfig
from pump.processor import Processor
from pump.state.backend import Restored

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class KeyCounterConfig(ComponentConfig):
    """Settings of a KeyCounter."""

    field: str = Field(
        "", description="Key of a JSON object event (bytes or str are parsed); '' = the event"
    )
    pause_every: int = Field(0, ge=0, description="Sleep `pause` seconds every this many events")
    pause: float = Field(0.0, ge=0, description="Seconds of each pause (slows a test run down)")


class KeyCounter(Processor):
    """Counts events per key in its state (one count per key and source partition); absorbs
    every event. Its state is what a crash test compares with a clean run."""

    ConfigModel = KeyCounterConfig
    Config: KeyCounterConfig
    stateful = True
    consumes_events = True

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.seen = 0

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Add one to the event's key."""
        field = self.Config.field
        if field:
            if isinstance(event, (bytes, str)):
                event = orjson.loads(event)
            key = event[field]
        else:
            key = event.decode() if isinstance(event, bytes) else event
        state = self.state
        state.set(key, state.get(key, 0) + 1)
        every = self.Config.pause_every
        if every:
            self.seen += 1
            if self.seen % every == 0:
                time.sleep(self.Config.pause)
        return None


class PauseConfig(ComponentConfig):
    """Settings of a Pause."""

    pause_every: int = Field(1000, gt=0, description="Sleep `pause` seconds every this many")
    pause: float = Field(0.01, ge=0, description="Seconds of each pause")


class Pause(Processor):
    """Passes events on, sleeping now and then (like CPU-bound work), so that a test can
    interrupt a run in the middle."""

    ConfigModel = PauseConfig
    Config: PauseConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.seen = 0

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """The event, after a pause every `pause_every` events."""
        self.seen += 1
        if self.seen % self.Config.pause_every == 0:
            time.sleep(self.Config.pause)
        return event


def read_state(state_dir: str | os.PathLike[str]) -> dict[tuple[str, str], dict[Any, Any]]:
    """Every (processor, partition) → {key: value} of a SQLite state folder."""
    path = os.path.join(state_dir, "state.sqlite3")
    if not os.path.exists(path):
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        chunks: dict[tuple[str, str], list[bytes]] = {}
        for processor, partition, base, data in db.execute(
            "SELECT processor, partition, base, data FROM chunks ORDER BY seq"
        ):
            where = (processor, partition)
            if base:
                chunks[where] = []
            chunks.setdefault(where, []).append(data)
        return {where: Restored(found).values() for where, found in chunks.items()}
    except sqlite3.OperationalError:  # being created: no tables yet
        return {}
    finally:
        db.close()


def read_positions(state_dir: str | os.PathLike[str]) -> dict[tuple[str, str], dict[str, int]]:
    """Every (processor, partition) → {stream: last position} of a SQLite state folder."""
    path = os.path.join(state_dir, "state.sqlite3")
    if not os.path.exists(path):
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        out: dict[tuple[str, str], dict[str, int]] = {}
        for processor, partition, stream, position in db.execute(
            "SELECT processor, partition, stream, position FROM positions"
        ):
            out.setdefault((processor, partition), {})[stream] = position
        return out
    except sqlite3.OperationalError:  # being created: no tables yet
        return {}
    finally:
        db.close()


def state_totals(state_dir: str | os.PathLike[str], processor: str) -> Counter[Any]:
    """A counting processor's values summed over its partitions (key → total)."""
    totals: Counter[Any] = Counter()
    for (name, _), values in read_state(state_dir).items():
        if name == processor:
            totals.update(values)
    return totals


def kill_repeatedly(
    start: Callable[[], subprocess.Popen[bytes]],
    progress: Callable[[], object],
    kills: int = 5,
    *,
    after: tuple[float, float] = (0.05, 0.6),
    timeout: float = 60.0,
    rng: random.Random | None = None,
) -> int:
    """Start a process and SIGKILL it mid-run, `kills` times; returns how many were killed.

    `progress()` tells how far the work is (e.g. the checkpointed positions, `read_positions`);
    each run is killed a random time within `after` seconds once that changed during the run
    (its own first checkpoint). A run that ends by itself first is not counted; at most twice
    `kills` runs are started.
    """
    rng = rng or random.Random()
    killed = 0
    for _ in range(2 * kills):
        if killed == kills:
            break
        before = progress()
        process = start()
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and progress() == before:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the process made no progress within {timeout}s")
                time.sleep(0.01)
            time.sleep(rng.uniform(*after))
        except BaseException:
            process.kill()
            process.wait(30)
            raise
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(30)
    return killed
