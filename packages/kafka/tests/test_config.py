"""Configuration of the Kafka components: typed keys, clear refusals, masked secrets (no broker)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pytest

import pump
from pump_kafka import (
    KafkaConnection,
    KafkaKeyFilter,
    KafkaSink,
    KafkaSource,
    KafkaTopicInitializer,
)


def app_with_connection(**config: object) -> pump.Application:
    app = pump.Application()
    app.add_connection(KafkaConnection(app, "kafka", config={"bootstrap_servers": "127.0.0.1:1", **config}))
    return app


def test_sasl_without_credentials_is_refused_naming_the_keys() -> None:
    app = pump.Application()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "kafka", config={"security_protocol": "SASL_SSL", "sasl_username": "u"})
    assert "sasl_username and sasl_password" in str(caught.value)
    assert "KafkaConnection 'kafka'" in str(caught.value)


def test_unknown_mechanism_and_missing_tls_files_are_refused() -> None:
    app = pump.Application()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k", config={"sasl_mechanism": "GSSAPI"})
    assert "sasl_mechanism" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k", config={"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"})
    assert "ssl_cafile: no such file '/no/such/ca.pem'" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k", config={"bootstrap_servers": " , "})
    assert "bootstrap_servers is empty" in str(caught.value)


def test_secrets_never_show_but_reach_the_client(caplog: pytest.LogCaptureFixture) -> None:
    app = pump.Application()
    connection = KafkaConnection(app, "k", config={
        "bootstrap_servers": "a:9092, b:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "alice",
        "sasl_password": "hunter2-secret",
    })
    logging.getLogger("test").info("config: %s / %r", connection.Config, connection.Config.masked())
    assert "hunter2-secret" not in repr(connection.Config)
    assert "hunter2-secret" not in str(connection.Config.masked())
    assert "hunter2-secret" not in caplog.text
    options = connection.client_options()
    assert options["sasl_plain_password"] == "hunter2-secret"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["bootstrap_servers"] == ["a:9092", "b:9093"]
    # A wrong type for a secret is reported without echoing the value.
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k2", config={"sasl_password": ["hunter3-secret"]})
    assert "hunter3-secret" not in str(caught.value)


def test_plaintext_connection_passes_no_sasl_or_tls() -> None:
    options = KafkaConnection(pump.Application(), "k", config={"bootstrap_servers": "h:1"}).client_options()
    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in options and "ssl_context" not in options


def test_source_needs_a_group_and_exactly_one_subscription() -> None:
    app = app_with_connection()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(app, pipeline, "kafka", config={"topic": "t"})
    assert "group_id" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(app, pipeline, "kafka", config={"group_id": "g"})
    assert "set exactly one of topic and topic_pattern" in str(caught.value)
    with pytest.raises(pump.ConfigError):
        KafkaSource(app, pipeline, "kafka", config={"group_id": "g", "topic": "a", "topic_pattern": "b.*"})
    source = KafkaSource(app, pipeline, "kafka", config={"group_id": "g", "topic": "a, b"})
    assert source.topics == ["a", "b"]
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(app, pipeline, "kafka", config={"group_id": "g", "topic": "a", "auto_offset_reset": "none"})
    assert "auto_offset_reset" in str(caught.value)


def test_components_need_a_kafka_connection() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.BuildError) as caught:
        KafkaSink(app, pipeline, "nowhere", config={"topic": "t"})
    assert "unknown connection 'nowhere'" in str(caught.value)

    class OtherConnection(pump.Connection):
        pass

    app.add_connection(OtherConnection(app, "other"))
    with pytest.raises(pump.BuildError) as caught:
        KafkaSink(app, pipeline, "other", config={"topic": "t"})
    assert "not a KafkaConnection" in str(caught.value)


def test_from_config_takes_the_connection_out_of_the_config() -> None:
    app = app_with_connection()
    pipeline = pump.Pipeline(app, "p")
    sink = KafkaSink.from_config(app, pipeline, "out", {"connection": "kafka", "topic": "t", "acks": 1})
    assert sink.Connection is app.locate_connection("kafka")
    assert sink.Id == "out" and sink.Config.acks == 1
    source = KafkaSource.from_config(app, pipeline, "in", {"connection": "kafka", "topic": "t", "group_id": "g"})
    assert source.Connection is sink.Connection
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSink.from_config(app, pipeline, "out", {"topic": "t"})
    assert "connection" in str(caught.value)
    connection = KafkaConnection.from_config(app, None, "k2", {"bootstrap_servers": "h:1"})
    assert connection.bootstrap_servers == ["h:1"]


def test_sink_refuses_acks_zero() -> None:
    app = app_with_connection()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSink(app, pump.Pipeline(app, "p"), "kafka", config={"topic": "t", "acks": 0})
    assert "acks" in str(caught.value)


def test_key_filter_keeps_only_listed_keys() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    keep = KafkaKeyFilter(app, pipeline, [b"a", "b"], config={"keep_keys": ["c"]})
    assert keep.keys == {b"a", b"b", b"c"}
    assert keep.process({"kafka_key": b"a"}, "x") == "x"
    assert keep.process({"kafka_key": "c"}, "y") == "y"
    assert keep.process({"kafka_key": b"z"}, "z") is None
    assert keep.process({"kafka_key": None}, "n") is None
    assert keep.process({}, "n") is None
    custom = KafkaKeyFilter(app, pipeline, config={"keep_keys": ["k"], "context_key": "route"})
    assert custom.process({"route": b"k"}, 1) == 1


def test_topic_initializer_applies_defaults() -> None:
    app = app_with_connection()
    init = KafkaTopicInitializer(app, pump.Pipeline(app, "p"), "kafka", config={
        "topics": ["plain", {"name": "big", "partitions": 8, "config": {"retention.ms": "1000"}}],
        "partitions": 3,
        "topic_config": {"cleanup.policy": "delete"},
    })
    specs = {t.name: t for t in init.specs()}
    assert specs["plain"].num_partitions == 3
    assert specs["big"].num_partitions == 8
    assert specs["big"].topic_configs == {"cleanup.policy": "delete", "retention.ms": "1000"}
    assert init.process({}, "event") == "event"
    with pytest.raises(pump.ConfigError):
        KafkaTopicInitializer(app, pump.Pipeline(app, "q"), "kafka", config={"topics": [{"name": "x", "size": 1}]})


def test_entry_points_name_the_components() -> None:
    groups = {
        "pump.connections": {"kafka": KafkaConnection},
        "pump.sources": {"kafka": KafkaSource},
        "pump.sinks": {"kafka": KafkaSink},
        "pump.processors": {"kafka.key_filter": KafkaKeyFilter, "kafka.topic_initializer": KafkaTopicInitializer},
    }
    for group, names in groups.items():
        found = {ep.name: ep for ep in entry_points(group=group) if ep.dist and ep.dist.name == "pump-kafka"}
        for name, cls in names.items():
            assert name in found, f"{group}: {name} is not declared"
            assert found[name].load() is cls
