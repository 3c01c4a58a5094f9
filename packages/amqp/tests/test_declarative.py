"""AMQP components from declarative config: `from_config` and a YAML pipeline of their names."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_amqp import AMQPConnection, AMQPFullMessageSource, AMQPSink, AMQPSource

SECRET = "yaml-s3cret"


def test_from_config_takes_the_connection_id_from_the_config() -> None:
    app = pump.Application()
    connection = AMQPConnection.from_config(app, None, "broker", {"url": "amqp://u:p@h/"})
    app.add_connection(connection)
    pipeline = pump.Pipeline(app, "p")
    source = AMQPSource.from_config(
        app, pipeline, "in", {"connection": "broker", "queue": "q", "prefetch_count": 5}
    )
    sink = AMQPSink.from_config(app, pipeline, "out", {"connection": "broker", "exchange": "x"})
    assert source.Connection is connection and sink.Connection is connection
    assert source.Id == "in" and source.Config.prefetch_count == 5
    assert sink.Id == "out" and sink.Config.exchange == "x"
    with pytest.raises(pump.ConfigError, match="key 'connection': required"):
        AMQPSource.from_config(app, pipeline, "in", {"queue": "q"})
    with pytest.raises(pump.BuildError, match="unknown connection 'nope'"):
        AMQPSink.from_config(app, pipeline, "out", {"connection": "nope"})


def test_a_yaml_pipeline_builds_from_the_registered_names(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  amqp:\n"
        "    {type: amqp, url: 'amqp://guest:${AMQP_PASSWORD}@127.0.0.1:5672/', heartbeat: 10}\n"
        "pipelines:\n"
        "  enrich:\n"
        "    source: {type: amqp.full_message, connection: amqp, queue: in, delivery_limit: 5}\n"
        "    processors:\n"
        "      - {type: json.serialize}\n"
        "    sink: {type: amqp, connection: amqp, exchange: out, routing_key: done}\n"
    )
    app = declarative.build_file(path, environ={"AMQP_PASSWORD": SECRET})
    connection = app.Connections["amqp"]
    assert isinstance(connection, AMQPConnection) and connection.Config.heartbeat == 10
    pipeline = app.Pipelines["enrich"]
    source, sink = pipeline.Sources[0], pipeline.sink
    assert isinstance(source, AMQPFullMessageSource) and source.Config.delivery_limit == 5
    assert isinstance(sink, AMQPSink) and sink.Config.routing_key == "done"
    assert source.Connection is connection is sink.Connection
    assert SECRET not in repr(connection) and SECRET not in str(connection.Config.masked())
