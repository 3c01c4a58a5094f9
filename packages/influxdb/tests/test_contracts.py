"""pump.testing's contract suites (docs/architecture.md §3) against the real servers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import pump
from pump.testing import SinkContract, SourceContract
from pump_influxdb import InfluxDBConnection, InfluxDBSink, InfluxDBSource

from .conftest import victoria_config

pytestmark = pytest.mark.service

SINK_BAD_CONFIGS = [
    {"precision": "minutes"},
    {"batch_max_points": 0},
    {"measurement": "#comment"},
    {"tags": ["a"], "fields": ["a"]},
]


class TestInfluxDBSinkContractV1(SinkContract):
    """The 1.x write API of InfluxDB 1.6: a fresh database per test."""

    bad_configs = SINK_BAD_CONFIGS

    @pytest.fixture(autouse=True)
    def _server(self, influxdb1: Any) -> Iterator[None]:
        self.server = influxdb1
        self.databases: list[str] = []
        yield
        for name in self.databases:
            influxdb1.drop_database(name)

    def prepare(self) -> None:
        self.database = self.server.create_database(f"pump_c_{uuid.uuid4().hex[:10]}")
        self.databases.append(self.database)
        # `id` is a string field of "refusing": every point the failing sink writes conflicts
        from pump_influxdb.testing import http

        # (now: InfluxDB 1.x keeps field types per shard, a week of time)
        line = f'refusing id="text" {time.time_ns()}'.encode()
        status, _ = http("POST", f"{self.server.url}/write?db={self.database}", line)
        assert status == 204

    def _connection(self, app: pump.Application) -> None:
        config = {"url": self.server.url, "api": "v1", "database": self.database}
        app.add_connection(InfluxDBConnection(app, "influx", config=config))

    def make_sink(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> InfluxDBSink:
        self._connection(app)
        base = {"measurement": "contract", "tags": ["run"], "flush_interval": 0.01}
        return InfluxDBSink(app, pipeline, "influx", config={**base, **(config or {})})

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> InfluxDBSink:
        return self.make_sink(app, pipeline, {"measurement": "refusing"})

    def read_back(self) -> list[Any]:
        return [
            {"id": p["fields"]["id"], "run": p["tags"]["run"], "text": p["fields"]["text"]}
            for p in self.server.points(self.database, "contract")
        ]


class TestInfluxDBSinkContractV2(SinkContract):
    """The v2 write path (/api/v2/write) against VictoriaMetrics: a fresh measurement per test.

    VictoriaMetrics keeps numbers only, so `text` is a tag; its failing destination is a
    VictoriaMetrics that wants other credentials (401).
    """

    bad_configs = SINK_BAD_CONFIGS

    @pytest.fixture(autouse=True)
    def _server(self, victoria: Any, victoria_auth: Any) -> None:
        self.server = victoria
        self.refusing = victoria_auth

    def prepare(self) -> None:
        self.measurement = f"c{uuid.uuid4().hex[:10]}"

    def make_sink(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
        server: Any = None,
    ) -> InfluxDBSink:
        connection = victoria_config(server or self.server)
        if server is not None:
            connection["check_on_start"] = False
        app.add_connection(InfluxDBConnection(app, "influx", config=connection))
        base = {
            "measurement": self.measurement,
            "tags": ["run", "text"],
            "precision": "ms",
            "flush_interval": 0.01,
        }
        return InfluxDBSink(app, pipeline, "influx", config={**base, **(config or {})})

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> InfluxDBSink:
        return self.make_sink(app, pipeline, server=self.refusing)

    def read_back(self) -> list[Any]:
        return [
            {"id": int(series["values"][0]), "run": series["metric"]["run"], "text": text}
            for series in self.server.export(f'{{__name__="{self.measurement}_id"}}')
            for text in [series["metric"]["text"]]
        ]


class TestInfluxDBSourceContract(SourceContract):
    """Incremental InfluxQL: done rows are not read again after a restart."""

    supports_redelivery = True
    expected_context_keys = ("influxdb_measurement", "influxdb_position")
    bad_configs = [
        {"batch_size": 0},
        {"time_delay": -1},
        {"query": "SELECT * FROM contract"},
        {"flux": "from(bucket: x)"},
    ]

    @pytest.fixture(autouse=True)
    def _server(self, influxdb1: Any, tmp_path: Any) -> Iterator[None]:
        self.server = influxdb1
        self.position_file = str(tmp_path / "contract.pos")
        self.databases: list[str] = []
        yield
        for name in self.databases:
            influxdb1.drop_database(name)

    def prepare(self) -> None:
        self.database = self.server.create_database(f"pump_s_{uuid.uuid4().hex[:10]}")
        self.databases.append(self.database)

    def make_source(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> InfluxDBSource:
        if "influx" not in app.Connections:
            connection = {"url": self.server.url, "api": "v1", "database": self.database}
            app.add_connection(InfluxDBConnection(app, "influx", config=connection))
        source = InfluxDBSource(
            app,
            pipeline,
            "influx",
            config={
                "query": "SELECT * FROM contract WHERE time > $after AND time <= $until",
                "position_file": self.position_file,
                "time_delay": 0,
                "batch_size": 3,
                **(config or {}),
            },
        )
        source.on(pump.PeriodicTrigger(app, 0.05))
        return source

    def produce(self, events: list[Any]) -> None:
        from pump_influxdb.testing import http

        stamp = time.time_ns()
        lines = [
            f'contract,run={e["run"]} id={e["id"]}i,text="{e["text"]}" {stamp + i}'
            for i, e in enumerate(events)
        ]
        status, body = http(
            "POST", f"{self.server.url}/write?db={self.database}", "\n".join(lines).encode()
        )
        assert status == 204, body

    def decode(self, event: Any) -> Any:
        return {"id": event["id"], "run": event["run"], "text": event["text"]}
