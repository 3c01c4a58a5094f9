"""TLSConfig: the TLS keys every connector's connection shares, and the SSLContext they make."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, SecretStr, ValidatorFunctionWrapHandler, model_validator

from pump.config import ComponentConfig
from pump.errors import PumpError

__all__ = ["TLSConfig", "TLSError", "TLSServerConfig"]

L = logging.getLogger(__name__)

#: The TLS keys, in the order they are documented.
TLS_KEYS = (
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "tls_key_password",
    "tls_verify",
    "tls_check_hostname",
)


class TLSError(PumpError):
    """The TLS files cannot be loaded (unreadable, not PEM, wrong key password)."""


class TLSConfig(ComponentConfig):
    """Base of a connection's config model: TLS settings under the same keys in every connector.

    The connector decides when TLS is used (Kafka's `security_protocol: SSL`, an `amqps://`
    URL) and calls `ssl_context()` then. A connector that had other names for these keys lists
    them in `tls_deprecated_names` (old → new): they are still accepted, with a warning.
    """

    #: Earlier key names of this connector → the tls_* key they mean now.
    tls_deprecated_names: ClassVar[Mapping[str, str]] = {}

    tls_ca_file: str = Field(
        "",
        description="CA bundle (PEM) that signed the server's certificate; empty: the system's CAs",
        examples=["/etc/ssl/certs/my-ca.pem"],
    )
    tls_cert_file: str = Field(
        "", description="Client certificate (PEM), for servers that require mutual TLS"
    )
    tls_key_file: str = Field(
        "", description="Private key of tls_cert_file (PEM); empty: the key is in tls_cert_file"
    )
    tls_key_password: SecretStr = Field(
        SecretStr(""), description="Password of an encrypted tls_key_file (secret)"
    )
    tls_verify: bool = Field(
        True,
        description="Verify the server's certificate (turn off only to test against a "
        "self-signed server: it allows anyone in the middle)",
    )
    tls_check_hostname: bool = Field(
        True, description="Check that the server's certificate names the host connected to"
    )

    #: Which tls_* keys were given under a deprecated name (new → old), for messages.
    _tls_given_as: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tls_checks(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        renamed: dict[str, str] = {}
        if isinstance(data, Mapping) and cls.tls_deprecated_names:
            data = dict(data)
            for old, new in cls.tls_deprecated_names.items():
                if old not in data:
                    continue
                if new in data:
                    raise ValueError(f"'{old}' and '{new}' are the same setting: give only '{new}'")
                L.warning("%s: config key '%s' is deprecated; use '%s'", cls.__name__, old, new)
                data[new] = data.pop(old)
                renamed[new] = old
        model = handler(data)
        if not isinstance(model, TLSConfig):
            return model
        model._tls_given_as = renamed
        problems = model.tls_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return model

    def tls_key_name(self, key: str) -> str:
        """The name the user gave `key` under (a deprecated one, if so), for messages."""
        return self._tls_given_as.get(key, key)

    def tls_keys_given(self) -> list[str]:
        """The TLS files set (by the names they were given under)."""
        files = ("tls_ca_file", "tls_cert_file", "tls_key_file")
        return [self.tls_key_name(k) for k in files if getattr(self, k)]

    def tls_problems(self) -> list[str]:
        """What is wrong with the TLS settings (missing files, a key without a certificate)."""
        problems = []
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                problems.append(f"{self.tls_key_name(key)}: no such file {path!r}")
        if self.tls_key_file and not self.tls_cert_file:
            problems.append(
                f"{self.tls_key_name('tls_key_file')} needs "
                f"{self.tls_key_name('tls_cert_file')} (the client certificate)"
            )
        return problems

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context from these settings; TLSError if a file cannot be loaded."""
        password = self.tls_key_password.get_secret_value() or None
        try:
            context = ssl.create_default_context(cafile=self.tls_ca_file or None)
            if self.tls_cert_file:
                context.load_cert_chain(
                    self.tls_cert_file, self.tls_key_file or None, password=password
                )
        except (OSError, ssl.SSLError, ValueError) as exc:
            given = ", ".join(self.tls_keys_given()) or "the system's CAs"
            raise TLSError(
                f"cannot load the TLS files ({given}): {type(exc).__name__}: {exc}"
            ) from None
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif not self.tls_check_hostname:
            context.check_hostname = False
        return context


class TLSServerConfig(ComponentConfig):
    """Base of a listening component's config model: TLS is on when `tls_cert_file` is given.

    `tls_ca_file` turns on mutual TLS: every client must show a certificate that CA signed.
    """

    tls_cert_file: str = Field(
        "",
        description="Server certificate chain (PEM); set: connections use TLS",
        examples=["/etc/pump/server.pem"],
    )
    tls_key_file: str = Field(
        "", description="Private key of tls_cert_file (PEM); empty: the key is in tls_cert_file"
    )
    tls_key_password: SecretStr = Field(
        SecretStr(""), description="Password of an encrypted tls_key_file (secret)"
    )
    tls_ca_file: str = Field(
        "", description="CA bundle (PEM) clients' certificates must be signed by; set: mutual TLS"
    )
    tls_handshake_timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds a client has to complete the TLS handshake"
    )

    @model_validator(mode="after")
    def _tls_files(self) -> TLSServerConfig:
        problems = []
        for key in ("tls_cert_file", "tls_key_file", "tls_ca_file"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                problems.append(f"{key}: no such file {path!r}")
        for key in ("tls_key_file", "tls_ca_file"):
            if getattr(self, key) and not self.tls_cert_file:
                problems.append(f"{key} needs tls_cert_file (the server certificate)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tls_enabled(self) -> bool:
        """True when connections use TLS."""
        return bool(self.tls_cert_file)

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server TLS context from these settings; TLSError if a file cannot be loaded."""
        password = self.tls_key_password.get_secret_value() or None
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(
                self.tls_cert_file, self.tls_key_file or None, password=password
            )
            if self.tls_ca_file:
                context.load_verify_locations(cafile=self.tls_ca_file)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError, ValueError) as exc:
            given = ", ".join(
                k for k in ("tls_cert_file", "tls_key_file", "tls_ca_file") if getattr(self, k)
            )
            raise TLSError(
                f"cannot load the TLS files ({given}): {type(exc).__name__}: {exc}"
            ) from None
        return context
