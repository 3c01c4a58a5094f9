"""Fixtures of pump-influxdb's tests: real servers, started for the test session.

InfluxDB 1.x is Debian's `influxd` (the v1 write and query API), VictoriaMetrics is Debian's
`victoria-metrics` (line protocol on `/api/v2/write`: the v2 write path). Each is started on a
free 127.0.0.1 port with a temporary data folder and stopped by its PID; a missing binary is
installed first (`apt-get`, as root) when possible. Without them the tests are skipped — or
fail under PUMP_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

import pump
from pump.testing import BatchRecord, CollectingSink, HarnessSource, require_service, wait_until
from pump_influxdb import InfluxDBConnection, InfluxDBSink
from pump_influxdb.testing import InfluxDB1Server, VictoriaMetricsServer, ensure_installed

Server = TypeVar("Server", InfluxDB1Server, VictoriaMetricsServer)

SERVICE_FIXTURES = {"influxdb1", "victoria", "influxdb1_auth", "victoria_auth", "db", "auth_db"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.service)


def _binary(name: str) -> str:
    path = ensure_installed(name)
    if path is None:
        require_service(name, f"`{name}` is not installed and could not be installed (apt-get)")
    return path


def _serving(server: Server) -> Iterator[Server]:
    """Start the server (a missing one skips, or fails in CI), hand it over, stop it after."""
    try:
        server.start()
    except RuntimeError as exc:
        require_service(server.name, str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1Server]:
    """InfluxDB 1.x without authentication, for the session."""
    yield from _serving(
        InfluxDB1Server(tmp_path_factory.mktemp("influxd"), binary=_binary("influxd"))
    )


@pytest.fixture(scope="session")
def influxdb1_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1Server]:
    """InfluxDB 1.x with authentication on (user `admin`), for the session."""
    folder = tmp_path_factory.mktemp("influxd-auth")
    yield from _serving(InfluxDB1Server(folder, auth=True, binary=_binary("influxd")))


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    """VictoriaMetrics (line protocol on /write and /api/v2/write), for the session."""
    folder = tmp_path_factory.mktemp("victoria")
    yield from _serving(VictoriaMetricsServer(folder, binary=_binary("victoria-metrics")))


@pytest.fixture(scope="session")
def victoria_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    """VictoriaMetrics that wants basic authentication (a token is refused), for the session."""
    folder = tmp_path_factory.mktemp("victoria-auth")
    yield from _serving(
        VictoriaMetricsServer(
            folder, username="pump", password="vm-Pa55word", binary=_binary("victoria-metrics")
        )
    )


class Database:
    """A fresh database of the test on an InfluxDB 1.x server, dropped afterwards."""

    def __init__(self, server: InfluxDB1Server) -> None:
        self.server = server
        self.name = server.create_database(f"pump_{uuid.uuid4().hex[:10]}")

    def connection_config(self, **overrides: Any) -> dict[str, Any]:
        """A v1 connection config for this database, with quick retries."""
        config: dict[str, Any] = {
            "url": self.server.url,
            "api": "v1",
            "database": self.name,
            "reconnect_delay": 0.02,
            "reconnect_delay_max": 0.2,
        }
        if self.server.auth:
            config.update(username=self.server.admin, password=self.server.admin_password)
        return {**config, **overrides}

    def points(self, measurement: str | None = None) -> list[dict[str, Any]]:
        return self.server.points(self.name, measurement)

    def write(self, lines: str, precision: str = "n") -> None:
        """Write line protocol directly (not through pump)."""
        from pump_influxdb.testing import http

        status, body = http(
            "POST",
            f"{self.server.url}/write?db={self.name}&precision={precision}",
            lines.encode(),
        )
        assert status == 204, (status, body)


def _fresh(server: InfluxDB1Server) -> Iterator[Database]:
    database = Database(server)
    yield database
    server.drop_database(database.name)


@pytest.fixture
def db(influxdb1: InfluxDB1Server) -> Iterator[Database]:
    """A fresh database on the InfluxDB 1.x server."""
    yield from _fresh(influxdb1)


@pytest.fixture
def auth_db(influxdb1_auth: InfluxDB1Server) -> Iterator[Database]:
    """A fresh database on the InfluxDB 1.x server with authentication."""
    yield from _fresh(influxdb1_auth)


def victoria_config(server: VictoriaMetricsServer, **overrides: Any) -> dict[str, Any]:
    """A v2 connection config for VictoriaMetrics, with quick retries."""
    return {
        "url": server.url,
        "api": "v2",
        "org": "pump",
        "bucket": "pump",
        "token": "not-checked-by-victoria",
        "reconnect_delay": 0.02,
        "reconnect_delay_max": 0.2,
        **overrides,
    }


class SinkRun:
    """An application with one pipeline: fed events → InfluxDBSink (+ dead letters)."""

    def __init__(
        self,
        connection_config: Mapping[str, Any],
        sink_config: Mapping[str, Any],
        *,
        batch_size: int = 100,
        on_error: str = "dead_letter",
        **pipeline_config: Any,
    ) -> None:
        self.app = pump.Application(exit_when_finished=False)
        self.connection = InfluxDBConnection(self.app, "influx", config=dict(connection_config))
        self.app.add_connection(self.connection)
        config = {
            "on_error": on_error,
            "retry_backoff": 0.02,
            "retry_backoff_max": 0.2,
            **pipeline_config,
        }
        self.pipeline = pump.Pipeline(self.app, "to_influx", config=config)
        self.source = HarnessSource(
            self.app, self.pipeline, "fed", batch_size=batch_size, shared_context=False
        )
        self.sink = InfluxDBSink(self.app, self.pipeline, "influx", "out", config=dict(sink_config))
        self.dead_letter = CollectingSink(self.app, self.pipeline, "dead_letter")
        self.pipeline.build(self.source, self.sink)
        self.pipeline.set_dead_letter(self.dead_letter)
        self.app.add_pipeline(self.pipeline)

    def feed(
        self, events: Sequence[Any], contexts: Sequence[Mapping[str, Any] | None] | None = None
    ) -> None:
        pairs = list(zip(contexts or [None] * len(events), events, strict=True))
        self.source.feed(pairs)

    def settled(self) -> bool:
        return all(r.status != BatchRecord.PENDING for r in self.source.records)

    async def run(self, timeout: float = 30.0) -> SinkRun:
        """Start, wait until every fed batch is acknowledged or rejected, stop."""
        await self.app.start()
        try:
            assert await wait_until(self.settled, timeout), (
                f"batches still pending after {timeout}s; errors: "
                f"{[e.as_dict()['error'] for e in self.pipeline.errors]}"
            )
        finally:
            await self.app.stop(timeout=5.0)
        return self

    def statuses(self) -> set[str]:
        return {r.status for r in self.source.records}

    def dead_letters(self) -> list[dict[str, Any]]:
        return list(self.dead_letter.events)


@pytest.fixture
def sink_run() -> Callable[..., SinkRun]:
    """Makes a SinkRun: `sink_run(connection_config, sink_config, batch_size=..., ...)`."""
    return SinkRun


@pytest.fixture
def here() -> Path:
    return Path(__file__).resolve().parent
