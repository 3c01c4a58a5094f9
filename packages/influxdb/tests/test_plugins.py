"""pump-influxdb as a plugin: its entry points (PluginContract) and `from_config`."""

from __future__ import annotations

import pytest

import pump
from pump.testing import PluginContract
from pump_influxdb import InfluxDBConnection, InfluxDBSink, InfluxDBSource


class TestPlugins(PluginContract):
    distribution = "pump-influxdb"
    declared = {
        ("connection", "influxdb"): InfluxDBConnection,
        ("sink", "influxdb"): InfluxDBSink,
        ("source", "influxdb"): InfluxDBSource,
    }


def test_from_config_takes_the_connection_id_from_the_config() -> None:
    app = pump.Application()
    connection = InfluxDBConnection.from_config(app, None, "influx", {"database": "db"})
    app.add_connection(connection)
    pipeline = pump.Pipeline(app, "p")
    sink = InfluxDBSink.from_config(
        app, pipeline, "out", {"connection": "influx", "measurement": "cpu"}
    )
    assert sink.Connection is connection and sink.Id == "out" and sink.Config.measurement == "cpu"
    with pytest.raises(pump.ConfigError, match="key 'connection': required"):
        InfluxDBSink.from_config(app, pipeline, "out", {"measurement": "cpu"})
