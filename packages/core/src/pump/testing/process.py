"""`pump run` in a process of its own: for tests that kill a worker mid-stream and restart it.

    with PumpRun(HERE / "worker.yaml", env) as first:
        while written() < 5000:
            assert first.alive(), first.output()
            await asyncio.sleep(0.05)
        first.kill()  # SIGKILL: no shutdown, no final acknowledgement
    with PumpRun(HERE / "worker.yaml", env) as second:  # resumes from what was saved
        ...

The output (stdout and stderr) goes to a temporary file, removed on `stop()`; `output()` gives
its end for an assertion message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["PumpRun"]

#: The `pump` command line of the running interpreter (no console script needed).
PUMP = [sys.executable, "-c", "import sys; from pump.cli import main; sys.exit(main())"]


class PumpRun:
    """`pump run CONFIG --progress off` with `env` added to this process's environment."""

    def __init__(self, config: str | os.PathLike[str], env: Mapping[str, str]) -> None:
        name = Path(config).stem
        self.log = Path(tempfile.mkstemp(prefix=f"pump-{name}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*PUMP, "run", str(config), "--progress", "off"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def output(self, tail: int = 3000) -> str:
        """The last `tail` characters the process wrote."""
        return self.log.read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        """SIGKILL: the process ends at once, without shutting down."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait (up to 30 s, then SIGKILL); remove the output file."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> PumpRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
