"""Real servers for tests and benchmarks: InfluxDB 1.x and VictoriaMetrics on free local ports.

`InfluxDB1Server` runs Debian's `influxd` (the 1.x write and query API) and
`VictoriaMetricsServer` runs `victoria-metrics` (InfluxDB line protocol on `/write` and
`/api/v2/write`), each with a temporary data folder, on 127.0.0.1, stopped by its PID.
`ensure_installed()` installs the Debian packages when a binary is missing and the process
may (root with apt-get). Reading back uses the standard library only (urllib), so a test may
read synchronously at any moment.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

#: Debian packages of the two servers (installed together).
DEBIAN_PACKAGES = ("influxdb", "victoria-metrics")
_APT_LOCK = Path(tempfile.gettempdir()) / "pump-influxdb-apt.lock"
_apt_updated = False


def ensure_installed(binary: str) -> str | None:
    """The path of `binary`; installs the Debian packages first if it is missing and we may.

    None when it is missing and cannot be installed here (not root, no apt-get, no network).
    """
    global _apt_updated
    found = shutil.which(binary)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_wait = ["-o", "DPkg::Lock::Timeout=300"]
    with _APT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer per machine at a time
        found = shutil.which(binary)
        if found:
            return found
        try:
            if not _apt_updated:
                subprocess.run(
                    ["apt-get", *lock_wait, "update", "-qq"],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=600,
                )
                _apt_updated = True
            subprocess.run(
                ["apt-get", *lock_wait, "install", "-y", "-qq", *DEBIAN_PACKAGES],
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.SubprocessError, OSError):
            return None
    return shutil.which(binary)


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """(status, body) of one request; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Process:
    """A server process of ours: started, waited for, stopped by its PID."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / f"{name}.log"

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}: {self.tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer within {timeout}s: {self.tail()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL if it does not exit)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again: same port, same data."""
        self.stop()
        self.start()

    def tail(self, size: int = 2000) -> str:
        """The end of the server's log."""
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def answers(self, path: str) -> bool:
        try:
            status, _ = http("GET", self.url + path, timeout=1.0)
        except OSError:
            return False
        return status < 500


class InfluxDB1Server(_Process):
    """`influxd` (InfluxDB 1.x) with its data in `folder`; `auth=True` turns authentication on.

    With authentication, the admin user `admin` (password `admin_password`) is created.
    """

    admin = "admin"
    admin_password = "pump-admin-Pa55"

    def __init__(self, folder: Path, *, auth: bool = False, binary: str = "influxd") -> None:
        super().__init__("influxd", folder)
        self.binary = binary
        self.auth = auth
        self.rpc_port = free_port()
        self.config = folder / "influxdb.conf"

    def command(self) -> list[str]:
        d = self.folder
        self.config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            "[meta]\n"
            f'  dir = "{d / "meta"}"\n'
            "  logging-enabled = false\n"
            "[data]\n"
            f'  dir = "{d / "data"}"\n'
            f'  wal-dir = "{d / "wal"}"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n"
            "  store-enabled = false\n"
            "[continuous_queries]\n"
            "  enabled = false\n"
            "[http]\n"
            f'  bind-address = "127.0.0.1:{self.port}"\n'
            f"  auth-enabled = {'true' if self.auth else 'false'}\n"
            "  log-enabled = false\n"
        )
        return [self.binary, "-config", str(self.config)]

    def ready(self) -> bool:
        try:
            status, _ = http("GET", self.url + "/ping", timeout=1.0)
        except OSError:
            return False
        return status == 204

    def start(self, timeout: float = 60.0) -> None:
        super().start(timeout)
        if self.auth:
            # allowed without credentials while there is no user yet
            self.query(
                f"CREATE USER {self.admin} WITH PASSWORD '{self.admin_password}' "
                "WITH ALL PRIVILEGES",
                credentials=False,
            )

    def query(
        self,
        q: str,
        db: str | None = None,
        *,
        epoch: str = "ns",
        credentials: bool = True,
    ) -> dict[str, Any]:
        """The JSON answer of an InfluxQL query (ValueError with the server's error)."""
        form = {"q": q, "epoch": epoch}
        if db:
            form["db"] = db
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.auth and credentials:
            headers["Authorization"] = _basic(self.admin, self.admin_password)
        status, body = http(
            "POST", self.url + "/query", urllib.parse.urlencode(form).encode(), headers
        )
        answer: dict[str, Any] = json.loads(body or b"{}")
        errors = [r["error"] for r in answer.get("results", []) if "error" in r]
        if status != 200 or "error" in answer or errors:
            raise ValueError(f"{q!r}: {status} {answer.get('error') or errors}")
        return answer

    def create_database(self, name: str) -> str:
        """Create database `name` (if missing)."""
        self.query(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop database `name` (if there)."""
        with contextlib.suppress(ValueError, OSError):
            self.query(f'DROP DATABASE "{name}"')

    def series(self, db: str, q: str = "SELECT * FROM /.*/ GROUP BY *") -> list[dict[str, Any]]:
        """Each series of a query: {"name", "tags", "columns", "values"}."""
        answer = self.query(q, db)
        found: list[dict[str, Any]] = []
        for result in answer.get("results", []):
            for series in result.get("series", []) or []:
                found.append(series)
        return found

    def points(self, db: str, measurement: str | None = None) -> list[dict[str, Any]]:
        """Every point of `db` (of one measurement): {"measurement", "tags", "fields", "time"}."""
        q = "SELECT * FROM /.*/ GROUP BY *"
        if measurement is not None:
            name = measurement.replace("\\", "\\\\").replace('"', '\\"')
            q = f'SELECT * FROM "{name}" GROUP BY *'
        points = []
        for series in self.series(db, q):
            columns = series["columns"]
            for row in series.get("values", []):
                values = dict(zip(columns, row, strict=True))
                stamp = values.pop("time")
                points.append(
                    {
                        "measurement": series["name"],
                        "tags": {k: v for k, v in (series.get("tags") or {}).items() if v},
                        "fields": {k: v for k, v in values.items() if v is not None},
                        "time": stamp,
                    }
                )
        return points

    def count(self, db: str, measurement: str, field: str) -> int:
        """COUNT of one field of a measurement (points, as InfluxDB keeps one per series+time)."""
        series = self.series(db, f'SELECT COUNT("{field}") FROM "{measurement}"')
        return int(series[0]["values"][0][1]) if series else 0


class VictoriaMetricsServer(_Process):
    """`victoria-metrics` with its data in `folder`; `username`/`password` turn on basic auth.

    Line protocol points become series named `<measurement>_<field>` (numeric fields only:
    VictoriaMetrics ignores string values) with the tags as labels; identical points (series
    and time) are kept once (`-dedup.minScrapeInterval=1ms`).
    """

    def __init__(
        self,
        folder: Path,
        *,
        username: str = "",
        password: str = "",
        binary: str = "victoria-metrics",
    ) -> None:
        super().__init__("victoria-metrics", folder)
        self.binary = binary
        self.username = username
        self.password = password

    def command(self) -> list[str]:
        command = [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.folder / 'data'}",
            "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]
        if self.username:
            command += [
                f"-httpAuth.username={self.username}",
                f"-httpAuth.password={self.password}",
            ]
        return command

    def _headers(self) -> dict[str, str]:
        return {"Authorization": _basic(self.username, self.password)} if self.username else {}

    def ready(self) -> bool:
        try:
            status, _ = http("GET", self.url + "/health", headers=self._headers(), timeout=1.0)
        except OSError:
            return False
        return status == 200

    def flush(self) -> None:
        """Make everything written so far searchable."""
        http("GET", self.url + "/internal/force_flush", headers=self._headers())

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching the selector: {"metric": labels, "values", "timestamps"}."""
        self.flush()
        # an explicit end: without one the newest samples may be left out
        end = str(int(time.time()) + 86_400)
        form = urllib.parse.urlencode({"match[]": match, "start": "0", "end": end}).encode()
        status, body = http(
            "POST",
            self.url + "/api/v1/export",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", **self._headers()},
        )
        if status != 200:
            raise ValueError(f"export {match!r}: {status} {body[:500]!r}")
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str) -> list[tuple[dict[str, str], float, int]]:
        """(labels, value, timestamp in ms) of every sample of the matching series."""
        found = []
        for series in self.export(match):
            for value, stamp in zip(series["values"], series["timestamps"], strict=True):
                found.append((series["metric"], value, stamp))
        return found


__all__ = [
    "DEBIAN_PACKAGES",
    "InfluxDB1Server",
    "VictoriaMetricsServer",
    "ensure_installed",
    "free_port",
    "http",
]
