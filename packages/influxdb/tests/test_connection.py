"""InfluxDBConnection: which API, masked secrets, TLS, clear errors when the server is away."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import pytest

import pump
from pump.testing import BatchRecord
from pump_influxdb import InfluxDBConnection, InfluxDBUnavailable

from .conftest import victoria_config

TOKEN = "t0ken-Never-Shown"
PASSWORD = "Passw0rd-Never-Shown"


def test_secrets_are_masked_in_repr_config_and_describe() -> None:
    app = pump.Application()
    v2 = InfluxDBConnection(app, "a", config={"bucket": "b", "org": "o", "token": TOKEN})
    v1 = InfluxDBConnection(
        app, "b", config={"database": "d", "username": "u", "password": PASSWORD}
    )
    for connection, secret in ((v2, TOKEN), (v1, PASSWORD)):
        assert secret not in repr(connection)
        assert secret not in repr(connection.Config)
        assert secret not in str(connection.Config.masked())


async def test_an_https_url_uses_the_tls_settings() -> None:
    app = pump.Application()
    connection = InfluxDBConnection(
        app,
        "tls",
        config={"url": "https://influx.example:8086", "database": "d", "tls_verify": False},
    )
    try:
        context = connection.client.api_client.configuration.ssl_context
        assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_NONE
    finally:
        await connection.stop()


async def test_auto_finds_the_v1_api_of_influxdb_1(db: Any) -> None:
    app = pump.Application()
    connection = InfluxDBConnection(app, "x", config={**db.connection_config(), "api": "auto"})
    await connection.start()
    try:
        assert connection.api == "v1"
        assert connection.server_version.startswith("1.")
        assert connection.connected == 1
    finally:
        await connection.stop()


async def test_auto_falls_back_on_the_keys_for_a_server_without_a_version(victoria: Any) -> None:
    app = pump.Application()
    with_bucket = InfluxDBConnection(app, "a", config={**victoria_config(victoria), "api": "auto"})
    with_database = InfluxDBConnection(
        app, "b", config={"url": victoria.url, "database": "metrics"}
    )
    for connection, api in ((with_bucket, "v2"), (with_database, "v1")):
        await connection.start()
        try:
            assert connection.api == api and connection.server_version == ""
        finally:
            await connection.stop()


async def test_the_v1_api_of_victoria_metrics_takes_writes_too(
    victoria: Any, sink_run: Any
) -> None:
    """api v1 against a server that is not InfluxDB: /write?db= with its database label."""
    run = sink_run(
        {"url": victoria.url, "api": "v1", "database": "vdb"},
        {"measurement": "v1m", "precision": "ms", "time_unit": "ms"},
    )
    stamp = victoria_now_ms = __import__("time").time_ns() // 1_000_000 - 60_000
    run.feed([{"v": float(i), "time": stamp + i} for i in range(20)])
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    samples = victoria.samples('{__name__="v1m_v"}')
    assert sorted(s[2] for s in samples) == [victoria_now_ms + i for i in range(20)]
    assert {s[0]["db"] for s in samples} == {"vdb"}


async def test_a_server_that_is_not_there_fails_the_start_clearly() -> None:
    from pump_influxdb.testing import free_port

    app = pump.Application()
    url = f"http://127.0.0.1:{free_port()}"
    connection = InfluxDBConnection(app, "x", config={"url": url, "database": "d", "token": TOKEN})
    with pytest.raises(InfluxDBUnavailable, match="is the server running there") as caught:
        await connection.start()
    assert url in str(caught.value) and TOKEN not in str(caught.value)
    assert connection.connected == 0 and connection.requests_failed == 1


async def test_a_server_that_does_not_answer_times_out_naming_the_key() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    app = pump.Application()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    connection = InfluxDBConnection(app, "x", config={"url": url, "database": "d", "timeout": 0.3})
    try:
        with pytest.raises(InfluxDBUnavailable, match=r"timed out \(key 'timeout'\)"):
            await connection.start()
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()
