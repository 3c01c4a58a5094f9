"""AMQPConnection: clear errors for bad URLs and credentials, masked secrets, TLS, retry delay."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

import pump
from pump_amqp import AMQPConnection, AMQPConnectionError
from pump_amqp.connection import _BackoffConnection, mask_url

SECRET = "s3cret-pw"


def connection(config: dict[str, Any]) -> AMQPConnection:
    return AMQPConnection(pump.Application(), "amqp", config=config)


def test_the_password_is_masked_in_repr_config_and_describe() -> None:
    conn = connection({"url": f"amqp://user:{SECRET}@broker.example:5672/vh"})
    assert SECRET not in repr(conn)
    assert repr(conn) == "<AMQPConnection 'amqp' amqp://user:*****@broker.example:5672/vh>"
    assert SECRET not in str(conn.Config)
    assert SECRET not in str(conn.Config.masked())
    separate = connection({"url": "amqp://user@broker.example/", "password": SECRET})
    assert SECRET not in repr(separate) and SECRET not in str(separate.Config.masked())
    assert "*****" in separate.masked_url


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url(f"amqps://me:{SECRET}@h:5671/v?heartbeat=5") == "amqps://me:*****@h:5671/v"
    assert mask_url("amqp://h/") == "amqp://h/"


def test_a_malformed_url_is_a_config_error_without_the_secret() -> None:
    with pytest.raises(pump.ConfigError) as caught:
        connection({"url": f"http://user:{SECRET}@host/"})
    assert "key 'url'" in str(caught.value) and "amqp://" in str(caught.value)
    assert SECRET not in str(caught.value)
    with pytest.raises(pump.ConfigError, match="TLS options need an amqps:// URL"):
        connection({"url": "amqp://host/", "tls_ca_file": __file__})  # a file that exists


def test_heartbeat_goes_to_the_broker_url() -> None:
    conn = connection({"url": "amqp://h/", "heartbeat": 7, "username": "u", "password": SECRET})
    assert conn._url.query["heartbeat"] == "7"
    assert conn._url.user == "u" and conn._url.password == SECRET
    assert conn._url.port == 5672
    assert connection({"url": "amqps://h/"})._url.port == 5671


@pytest.mark.service
async def test_wrong_credentials_are_a_clear_error_without_the_password(
    amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = URL(amqp_url).with_user("guest").with_password(SECRET)
    conn = AMQPConnection(pump.Application(), "amqp", config={"url": str(url)})
    with caplog.at_level(logging.DEBUG), pytest.raises(AMQPConnectionError) as caught:
        await conn.start()
    message = str(caught.value)
    assert "authentication refused for user 'guest'" in message
    assert SECRET not in message
    assert caught.value.__suppress_context__  # tracebacks do not show the client's own error
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


async def test_an_unreachable_broker_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    conn = connection({"url": f"amqp://guest:{SECRET}@127.0.0.1:1/", "connection_timeout": 2})
    with caplog.at_level(logging.DEBUG), pytest.raises(AMQPConnectionError) as caught:
        await conn.start()
    message = str(caught.value)
    assert "cannot connect to amqp://guest:*****@127.0.0.1:1/" in message
    assert "refused" in message.lower() or "connect call failed" in message.lower()
    assert SECRET not in message
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


async def test_an_unknown_host_is_a_clear_error() -> None:
    conn = connection(
        {"url": f"amqp://guest:{SECRET}@no-such-host.invalid/", "connection_timeout": 5}
    )
    with pytest.raises(AMQPConnectionError) as caught:
        await conn.start()
    assert "cannot connect to amqp://guest:*****@no-such-host.invalid" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.service
async def test_a_missing_virtual_host_is_a_clear_error(amqp_url: str) -> None:
    url = URL(amqp_url).with_path("/no-such-vhost")
    conn = AMQPConnection(pump.Application(), "amqp", config={"url": str(url)})
    with pytest.raises(AMQPConnectionError, match="does the virtual host 'no-such-vhost' exist"):
        await conn.start()


@pytest.mark.service
async def test_open_channel_and_generation(amqp_url: str) -> None:
    conn = AMQPConnection(pump.Application(), "amqp", config={"url": amqp_url})
    await conn.start()
    try:
        assert conn.is_connected and conn.generation == 1 and conn.reconnects == 0
        channel = await conn.open_channel(publisher_confirms=True)
        assert not channel.is_closed
    finally:
        await conn.stop()
    assert not conn.is_connected
    with pytest.raises(AMQPConnectionError, match="not started"):
        await conn.open_channel()


async def test_the_reconnection_delay_doubles_while_the_broker_stays_down() -> None:
    owner = connection({"url": "amqp://h/"})
    robust = _BackoffConnection(
        URL("amqp://h/"), reconnect_delay_max=8.0, owner=owner, reconnect_interval=0.5
    )
    assert robust.reconnect_interval == 0.5  # connected, or never lost: the base delay
    for down, expected in [(0.1, 0.5), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (100.0, 8.0)]:
        robust._lost_at = time.monotonic() - down
        assert robust.reconnect_interval == pytest.approx(expected, abs=0.05)
    # each attempt sleeps the time it has been down: attempts at 0, base, 2·base, 4·base, ...
    await robust.close()


# -- TLS -------------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make test certificates)")
    d = tmp_path_factory.mktemp("tls")
    p = {
        name: d / name
        for name in (
            "ca.key",
            "ca.pem",
            "server.key",
            "server.csr",
            "server.pem",
            "client.key",
            "client.csr",
            "client.pem",
            "ext.cnf",
            "other.key",
            "other.pem",
        )
    }
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(p["ca.key"]),
        "-out",
        str(p["ca.pem"]),
        "-days",
        "2",
        "-subj",
        "/CN=pump-test-ca",
    )
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(p["other.key"]),
        "-out",
        str(p["other.pem"]),
        "-days",
        "2",
        "-subj",
        "/CN=other-ca",
    )
    p["ext.cnf"].write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who, cn in (("server", "127.0.0.1"), ("client", "pump-client")):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(p[f"{who}.key"]),
            "-out",
            str(p[f"{who}.csr"]),
            "-subj",
            f"/CN={cn}",
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(p[f"{who}.csr"]),
            "-CA",
            str(p["ca.pem"]),
            "-CAkey",
            str(p["ca.key"]),
            "-CAcreateserial",
            "-out",
            str(p[f"{who}.pem"]),
            "-days",
            "2",
            "-extfile",
            str(p["ext.cnf"]),
        )
    return p


class TLSServer:
    """A TLS endpoint that requires a client certificate, records it, then hangs up (no AMQP)."""

    def __init__(self, certificates: dict[str, Path]) -> None:
        self.context = ssl.create_default_context(
            ssl.Purpose.CLIENT_AUTH, cafile=str(certificates["ca.pem"])
        )
        self.context.load_cert_chain(
            str(certificates["server.pem"]), str(certificates["server.key"])
        )
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.clients: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> TLSServer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        self.clients.extend(
            value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"
        )
        writer.close()

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_amqps_presents_the_client_certificate_and_trusts_the_given_ca(
    certificates: dict[str, Path],
) -> None:
    async with TLSServer(certificates) as server:
        conn = connection(
            {
                "url": f"amqps://guest:{SECRET}@127.0.0.1:{server.port}/",
                "ca_file": str(certificates["ca.pem"]),
                "cert_file": str(certificates["client.pem"]),
                "key_file": str(certificates["client.key"]),
                "connection_timeout": 5,
            }
        )
        with pytest.raises(AMQPConnectionError) as caught:
            await conn.start()  # the TLS handshake succeeds; the fake server speaks no AMQP
    assert server.clients == ["pump-client"]
    assert "TLS failed" not in str(caught.value) and SECRET not in str(caught.value)


async def test_amqps_refuses_a_broker_signed_by_another_ca(certificates: dict[str, Path]) -> None:
    async with TLSServer(certificates) as server:
        conn = connection(
            {
                "url": f"amqps://guest:{SECRET}@127.0.0.1:{server.port}/",
                "ca_file": str(certificates["other.pem"]),
                "cert_file": str(certificates["client.pem"]),
                "key_file": str(certificates["client.key"]),
                "connection_timeout": 5,
            }
        )
        with pytest.raises(AMQPConnectionError, match="certificate verify failed"):
            await conn.start()
    assert server.clients == []


def test_unreadable_tls_files_are_a_clear_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    conn = connection({"url": "amqps://h/", "tls_ca_file": str(not_pem)})
    with pytest.raises(AMQPConnectionError, match="cannot load the TLS files"):
        conn._ssl_context()
    # A file that is not there at all is refused with the config, before any connection.
    with pytest.raises(pump.ConfigError, match="tls_ca_file: no such file"):
        connection({"url": "amqps://h/", "tls_ca_file": str(tmp_path / "missing.pem")})
