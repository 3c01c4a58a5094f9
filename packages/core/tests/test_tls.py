"""TLSConfig: one set of TLS keys for every connector, old names as deprecated aliases."""

from __future__ import annotations

import logging
import ssl
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

import pump


class SecureConfig(pump.TLSConfig):
    tls_deprecated_names: ClassVar[dict[str, str]] = {
        "ca_file": "tls_ca_file",
        "verify_tls": "tls_verify",
    }


class Secure(pump.Connection):
    """A connection with TLS settings."""

    ConfigModel = SecureConfig


def make(**config: object) -> Secure:
    return Secure(pump.Application(args=[]), "s", config=config)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=pump-test",
        ],
        check=True,
        capture_output=True,
    )
    return {"cert": d / "cert.pem", "key": d / "key.pem"}


def test_the_keys_and_their_defaults_are_the_same_everywhere():
    assert list(pump.TLSConfig.model_fields) == [
        "tls_ca_file",
        "tls_cert_file",
        "tls_key_file",
        "tls_key_password",
        "tls_verify",
        "tls_check_hostname",
    ]
    config = make().Config
    assert (config.tls_verify, config.tls_check_hostname, config.tls_ca_file) == (True, True, "")
    assert all(f.description for f in pump.TLSConfig.model_fields.values())


def test_the_context_verifies_by_default_and_loads_the_given_files(pem):
    context = make(
        tls_ca_file=str(pem["cert"]), tls_cert_file=str(pem["cert"]), tls_key_file=str(pem["key"])
    ).Config.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(c["subject"] == ((("commonName", "pump-test"),),) for c in context.get_ca_certs())


def test_verification_and_the_host_name_check_can_be_relaxed():
    relaxed = make(tls_check_hostname=False).Config.ssl_context()
    assert relaxed.verify_mode == ssl.CERT_REQUIRED and not relaxed.check_hostname
    off = make(tls_verify=False).Config.ssl_context()
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname


def test_missing_files_and_a_key_without_certificate_are_refused_naming_the_keys(tmp_path):
    with pytest.raises(pump.ConfigError) as caught:
        make(tls_ca_file=str(tmp_path / "no.pem"), tls_key_file=str(tmp_path / "no.key"))
    problems = str(caught.value)
    assert f"tls_ca_file: no such file '{tmp_path / 'no.pem'}'" in problems
    assert "tls_key_file needs tls_cert_file (the client certificate)" in problems


def test_unloadable_files_are_a_tls_error_without_the_key_password(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    config = make(tls_cert_file=str(bad), tls_key_password="hunter2").Config
    with pytest.raises(pump.TLSError, match="cannot load the TLS files") as caught:
        config.ssl_context()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(config)


def test_old_names_are_accepted_with_a_warning_and_named_in_messages(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="pump.tls"):
        config = make(verify_tls=False).Config
    assert config.tls_verify is False
    assert "config key 'verify_tls' is deprecated; use 'tls_verify'" in caplog.text
    with pytest.raises(pump.ConfigError, match=r"ca_file: no such file"):
        make(ca_file=str(tmp_path / "no.pem"))


def test_an_old_and_a_new_name_together_are_refused():
    with pytest.raises(pump.ConfigError, match="'ca_file' and 'tls_ca_file' are the same setting"):
        make(ca_file="a.pem", tls_ca_file="b.pem")
