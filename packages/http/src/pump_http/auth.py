"""Authentication: the credentials a client sends, and the token or signature a server checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, SecretStr, model_validator

import pump

ClientAuth = Literal["none", "basic", "bearer", "header", "query"]


class ClientAuthConfig(pump.ComponentConfig):
    """Base of a client component's config model: how it proves who it is to the server."""

    auth: ClientAuth = Field(
        "none",
        description="none; basic (username, password); bearer (token); header (token in the "
        "header auth_name); query (token in the query parameter auth_name)",
    )
    username: str = Field("", description="User name of basic authentication")
    password: SecretStr = Field(SecretStr(""), description="Password of basic authentication")
    token: SecretStr = Field(
        SecretStr(""), description="Bearer token, or the value of the auth_name header or parameter"
    )
    auth_name: str = Field(
        "",
        description="Header (auth: header) or query parameter (auth: query) that carries token",
        examples=["X-API-Key"],
    )

    @model_validator(mode="after")
    def _credentials_given(self) -> ClientAuthConfig:
        problems = []
        if self.auth == "basic" and not self.username:
            problems.append("auth: basic needs username")
        if self.auth in ("bearer", "header", "query") and not self.token.get_secret_value():
            problems.append(f"auth: {self.auth} needs token")
        if self.auth in ("header", "query") and not self.auth_name:
            problems.append(f"auth: {self.auth} needs auth_name (the header or parameter name)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the credentials (none for `none` and `query`)."""
        if self.auth == "basic":
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        if self.auth == "bearer":
            return {"Authorization": "Bearer " + self.token.get_secret_value()}
        if self.auth == "header":
            return {self.auth_name: self.token.get_secret_value()}
        return {}

    def auth_params(self) -> dict[str, str]:
        """The query parameters that carry the credentials (only for `query`)."""
        if self.auth == "query":
            return {self.auth_name: self.token.get_secret_value()}
        return {}


class TokenAuthConfig(pump.ComponentConfig):
    """Base of a listener's config model: the token every request must carry."""

    token: SecretStr = Field(
        SecretStr(""),
        description="Requests must carry this token (in token_header); empty: no token needed",
    )
    token_header: str = Field(
        "Authorization",
        description="Header holding the token; Authorization expects 'Bearer <token>'",
        examples=["X-Gitlab-Token"],
    )


class ServerAuthConfig(TokenAuthConfig):
    """Base of a listener's config model: the token and the body signature of every request."""

    hmac_secret: SecretStr = Field(
        SecretStr(""),
        description="Secret of an HMAC signature of the body (GitHub-style); empty: unsigned",
    )
    hmac_header: str = Field(
        "X-Hub-Signature-256", description="Header holding the body's HMAC signature"
    )
    hmac_algorithm: Literal["sha1", "sha256", "sha512"] = Field(
        "sha256", description="Hash of the HMAC signature"
    )
    hmac_prefix: str = Field(
        "sha256=", description="Text before the hexadecimal signature in hmac_header"
    )


class RequestAuth:
    """Checks a request's token (and, for a ServerAuthConfig, its body's signature)."""

    def __init__(self, config: TokenAuthConfig) -> None:
        token = config.token.get_secret_value()
        self.header = config.token_header
        bearer = self.header.lower() == "authorization"
        self._expected = (f"Bearer {token}" if bearer else token).encode() if token else None
        self._secret: bytes | None = None
        self.signature_header = ""
        self._prefix = ""
        self._digest = hashlib.sha256
        if isinstance(config, ServerAuthConfig):
            secret = config.hmac_secret.get_secret_value()
            self._secret = secret.encode() if secret else None
            self.signature_header = config.hmac_header
            self._prefix = config.hmac_prefix
            self._digest = getattr(hashlib, config.hmac_algorithm)
        #: Headers that carry credentials: never copied into an event's context.
        self.secret_headers = frozenset(
            h.lower() for h in (self.header, self.signature_header, "authorization") if h
        )

    @property
    def checks_token(self) -> bool:
        """True when requests must carry a token."""
        return self._expected is not None

    @property
    def checks_signature(self) -> bool:
        """True when the body's signature is checked."""
        return self._secret is not None

    def token_ok(self, headers: Mapping[str, str]) -> bool:
        """True when no token is configured or the request carries the right one."""
        if self._expected is None:
            return True
        given = headers.get(self.header)
        return given is not None and hmac.compare_digest(given.encode(), self._expected)

    def signature_ok(self, headers: Mapping[str, str], body: bytes) -> bool:
        """True when no secret is configured or the body's signature matches."""
        if self._secret is None:
            return True
        given = headers.get(self.signature_header)
        if given is None or not given.startswith(self._prefix):
            return False
        expected = hmac.new(self._secret, body, self._digest).hexdigest()
        return hmac.compare_digest(given[len(self._prefix) :].strip().lower(), expected)


def sign(secret: str, body: bytes, algorithm: str = "sha256", prefix: str = "sha256=") -> str:
    """The signature header value a sender computes for `body` (GitHub's X-Hub-Signature-256)."""
    return prefix + hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
