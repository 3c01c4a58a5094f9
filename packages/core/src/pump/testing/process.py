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

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["PumpRun"]

#: The `pump` command line of the running interpreter (no console script needed).
PUMP = [sys.executable, "-c", "import sys; from pump.cli import main; sys.exit(main())"]


class PumpRun:
    """`pump run CONFIG --progress off` with `env` added to this process's environment.

    `cwd`: the folder it runs in; `log`: a file its output is appended to (kept), else a
    temporary file (removed on `stop()`).
    """

    def __init__(
        self,
        config: str | os.PathLike[str],
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None = None,
        log: str | os.PathLike[str] | None = None,
    ) -> None:
        self._own_log = log is None
        if log is None:
            log = tempfile.mkstemp(prefix=f"pump-{Path(config).stem}-", suffix=".log")[1]
        self.log = Path(log)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*PUMP, "run", str(config), "--progress", "off"],
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def text(self) -> str:
        """Everything the process wrote (to the log) so far."""
        return self.log.read_text(errors="replace")

    def output(self, tail: int = 3000) -> str:
        """The last `tail` characters the process wrote."""
        return self.text()[-tail:]

    def kill(self) -> bool:
        """SIGKILL: the process ends at once, without shutting down; False if it had ended."""
        if not self.alive():
            return False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        return True

    async def finish(self, timeout: float = 30.0) -> int:
        """SIGTERM, and its exit code once it shut down; fails the test (and kills it) when
        that takes longer than `timeout` seconds. The event loop runs meanwhile."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"pump run did not stop within {timeout}s:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM and wait (up to 30 s, then SIGKILL), or with `graceful=False` SIGKILL at
        once; remove a temporary output file."""
        if self.alive() and graceful:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        self.kill()
        if self._own_log:
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
