"""KafkaConnection: typed keys, clear refusals, masked secrets, and a clear error at start."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import pump
from pump_kafka import BrokerUnavailable, KafkaConnection
from pump_kafka.testing import free_port


def test_sasl_without_credentials_is_refused_naming_the_keys() -> None:
    app = pump.Application()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(
            app, "kafka", config={"security_protocol": "SASL_SSL", "sasl_username": "u"}
        )
    assert "sasl_username and sasl_password" in str(caught.value)
    assert "KafkaConnection 'kafka'" in str(caught.value)


def test_unknown_mechanism_and_missing_tls_files_are_refused() -> None:
    app = pump.Application()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k", config={"sasl_mechanism": "GSSAPI"})
    assert "sasl_mechanism" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(
            app, "k", config={"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"}
        )
    assert "ssl_cafile: no such file '/no/such/ca.pem'" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaConnection(app, "k", config={"bootstrap_servers": " , "})
    assert "bootstrap_servers is empty" in str(caught.value)


def test_secrets_never_show_but_reach_the_client(caplog: pytest.LogCaptureFixture) -> None:
    app = pump.Application()
    connection = KafkaConnection(
        app,
        "k",
        config={
            "bootstrap_servers": "a:9092, b:9093",
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "alice",
            "sasl_password": "hunter2-secret",
        },
    )
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
    options = KafkaConnection(
        pump.Application(), "k", config={"bootstrap_servers": "h:1"}
    ).client_options()
    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in options and "ssl_context" not in options


async def test_unreachable_servers_fail_the_start_naming_them() -> None:
    port = free_port()
    app = pump.Application(exit_when_finished=False)
    app.add_connection(
        KafkaConnection(
            app, "kafka", config={"bootstrap_servers": f"127.0.0.1:{port}", "connect_timeout": 3}
        )
    )
    with pytest.raises(BrokerUnavailable) as caught:
        await app.start()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "Connect call failed" in message and "is a broker listening there?" in message


async def test_wrong_sasl_settings_fail_the_start_saying_so(kafka: Any) -> None:
    app = pump.Application(exit_when_finished=False)
    app.add_connection(
        KafkaConnection(
            app,
            "kafka",
            config=kafka.connection_config(
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="SCRAM-SHA-256",
                sasl_username="pump",
                sasl_password="not-the-password",
                connect_timeout=5,
            ),
        )
    )
    with pytest.raises(BrokerUnavailable) as caught:
        await app.start()
    message = str(caught.value)
    assert "SCRAM-SHA-256" in message and "SASL_PLAINTEXT" in message
    assert "not-the-password" not in message
    if kafka.broker.tansu is not None:  # a broker without SASL at all
        assert "does not accept SASL mechanism SCRAM-SHA-256" in message


def test_tls_keys_are_the_shared_ones_and_the_old_ssl_names_still_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import ssl

    app = pump.Application()
    with caplog.at_level(logging.WARNING, logger="pump.tls"):
        connection = KafkaConnection(
            app, "k", config={"security_protocol": "SSL", "ssl_check_hostname": False}
        )
    assert "config key 'ssl_check_hostname' is deprecated; use 'tls_check_hostname'" in caplog.text
    assert connection.Config.tls_check_hostname is False
    context = connection.client_options()["ssl_context"]
    assert context is connection.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    assert "tls_ca_file" in KafkaConnection.ConfigModel.model_fields
    assert "ssl_cafile" not in KafkaConnection.ConfigModel.model_fields
