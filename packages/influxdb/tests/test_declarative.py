"""InfluxDB components from YAML: built by their registered names, secrets from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pump import declarative
from pump_influxdb import InfluxDBConnection, InfluxDBSink, InfluxDBSource

SECRET = "yaml-t0ken-s3cret"


def test_a_yaml_pipeline_builds_with_the_token_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  influx: {type: influxdb, url: 'http://127.0.0.1:8086', org: acme, bucket: metrics,\n"
        "           token: '${INFLUX_TOKEN}', gzip: true}\n"
        "pipelines:\n"
        "  load:\n"
        "    source: {type: file.jsonl, path: /nonexistent/*.jsonl}\n"
        "    sink:\n"
        "      type: influxdb\n"
        "      connection: influx\n"
        "      measurement: cpu\n"
        "      tags: [host, region]\n"
        "      fields: {usage: usage_percent}\n"
        "      time_key: ts\n"
        "      time_unit: ms\n"
    )
    app = declarative.build_file(path, environ={"INFLUX_TOKEN": SECRET})
    connection = app.Connections["influx"]
    assert isinstance(connection, InfluxDBConnection)
    assert connection.Config.token.get_secret_value() == SECRET and connection.Config.gzip
    assert SECRET not in repr(connection.Config) and SECRET not in str(connection.Config.masked())
    sink = app.Pipelines["load"].sink
    assert isinstance(sink, InfluxDBSink)
    assert sink.Config.fields == {"usage": "usage_percent"} and sink.Config.time_unit == "ms"
    line = sink.builder.line({"host": "a", "region": "b", "usage_percent": 5.5, "ts": 1500}, {})
    assert line == "cpu,host=a,region=b usage=5.5 1500000000"


def test_a_yaml_incremental_source_with_a_trigger(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  influx: {type: influxdb, url: 'http://127.0.0.1:8086', database: telegraf,\n"
        "           username: reader, password: '${INFLUX_PASSWORD}'}\n"
        "pipelines:\n"
        "  export:\n"
        "    source:\n"
        "      type: influxdb\n"
        "      connection: influx\n"
        "      query: SELECT * FROM cpu WHERE time > $after AND time <= $until GROUP BY *\n"
        f"      position_file: {tmp_path / 'cpu.pos'}\n"
        "      trigger: {type: periodic, interval: 10}\n"
        "    sink: {type: file.jsonl, path: " + str(tmp_path / "out.jsonl") + "}\n"
    )
    app = declarative.build_file(path, environ={"INFLUX_PASSWORD": SECRET})
    source = app.Pipelines["export"].Sources[0]
    assert isinstance(source, InfluxDBSource) and source.incremental
    assert len(source.Triggers) == 1
    assert SECRET not in repr(source.Connection.Config)


async def test_a_yaml_pipeline_loads_a_file_into_influxdb(db: Any, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(
        "\n".join(f'{{"host": "h{i % 2}", "v": {i}, "t": {1_600_000_000 + i}}}' for i in range(50))
        + "\n"
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        f"  influx: {{type: influxdb, url: '{db.server.url}', database: {db.name}}}\n"
        "pipelines:\n"
        "  load:\n"
        f"    source: {{type: file.jsonl, path: '{data}', post: noop}}\n"
        "    sink: {type: influxdb, connection: influx, measurement: m, tags: [host],\n"
        "           time_key: t}\n"
    )
    app = declarative.build_file(path, environ={})
    assert await app.main() == 0
    points = db.points("m")
    assert sorted(p["fields"]["v"] for p in points) == list(range(50))
