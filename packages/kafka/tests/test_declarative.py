"""Kafka components built from declarative config: `connection: <id>` and YAML pipelines."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_kafka import KafkaConnection, KafkaSink, KafkaSource


def test_from_config_takes_the_connection_out_of_the_config(offline_app: Any) -> None:
    app = offline_app()
    pipeline = pump.Pipeline(app, "p")
    sink = KafkaSink.from_config(
        app, pipeline, "out", {"connection": "kafka", "topic": "t", "acks": 1}
    )
    assert sink.Connection is app.locate_connection("kafka")
    assert sink.Id == "out" and sink.Config.acks == 1
    source = KafkaSource.from_config(
        app, pipeline, "in", {"connection": "kafka", "topic": "t", "group_id": "g"}
    )
    assert source.Connection is sink.Connection
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSink.from_config(app, pipeline, "out", {"topic": "t"})
    assert "connection" in str(caught.value)
    connection = KafkaConnection.from_config(app, None, "k2", {"bootstrap_servers": "h:1"})
    assert connection.bootstrap_servers == ["h:1"]


def test_a_yaml_pipeline_builds_from_the_registered_names(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  kafka: {type: kafka, bootstrap_servers: '127.0.0.1:1', sasl_password: '${PASSWORD}',\n"
        "          security_protocol: SASL_PLAINTEXT, sasl_username: pump}\n"
        "pipelines:\n"
        "  copy:\n"
        "    source: {type: kafka, connection: kafka, topic: in, group_id: g, max_batch: 10}\n"
        "    processors: [{type: kafka.key_filter, keep_keys: [a]}]\n"
        "    sink: {type: kafka, connection: kafka, topic: out}\n"
    )
    app = declarative.build_file(path, environ={"PASSWORD": "s3cret"})
    connection = app.Connections["kafka"]
    assert isinstance(connection, KafkaConnection) and connection.Config.sasl_username == "pump"
    pipeline = app.Pipelines["copy"]
    source, sink = pipeline.Sources[0], pipeline.sink
    assert isinstance(source, KafkaSource) and source.Config.max_batch == 10
    assert isinstance(sink, KafkaSink) and sink.Config.topic == "out"
    assert source.Connection is connection is sink.Connection
    assert "s3cret" not in repr(connection.Config)


def test_a_component_naming_a_broken_connection_is_told_why(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  kafka: {type: kafka, security_protocol: SASL_SSL}\n"
        "pipelines:\n"
        "  p:\n"
        "    source: {type: kafka, connection: kafka, topic: in, group_id: g}\n"
        "    sink: {type: kafka, connection: kafka, topic: out}\n"
    )
    with pytest.raises(pump.ConfigError) as caught:
        declarative.build_file(path)
    message = str(caught.value)
    assert "security_protocol SASL_SSL needs sasl_username and sasl_password" in message
    # pointed at: the connection's own error, where it is (not "unknown connection")
    assert f"key 'connection': connection 'kafka' is invalid (see {path}:2)" in message
    assert "unknown connection" not in message
