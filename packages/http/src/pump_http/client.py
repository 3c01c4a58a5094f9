"""What every HTTP client component shares: credentials, headers, TLS, timeouts, the session."""

from __future__ import annotations

import re
import ssl

import aiohttp
from pydantic import Field
from yarl import URL

import pump
from pump_http.auth import ClientAuthConfig


class ClientConfig(ClientAuthConfig, pump.TLSConfig):
    """Base of a client component's config model: how it reaches its server."""

    headers: dict[str, str] = Field(
        {}, description="Headers sent with every request", examples=[{"Accept": "application/json"}]
    )
    timeout: float = Field(30.0, gt=0, description="Seconds a request may take in all")


def tls_for(config: pump.TLSConfig) -> ssl.SSLContext | bool:
    """The TLS context of https/wss requests: the configured one, or aiohttp's default."""
    given = config.tls_keys_given() or not config.tls_verify or not config.tls_check_hostname
    return config.ssl_context() if given else True


def make_session(config: ClientConfig, **kwargs: object) -> aiohttp.ClientSession:
    """A client session with the component's headers, credentials, TLS and timeout."""
    return aiohttp.ClientSession(
        headers={**config.headers, **config.auth_headers()},
        timeout=aiohttp.ClientTimeout(total=config.timeout),
        connector=aiohttp.TCPConnector(ssl=tls_for(config)),
        **kwargs,  # type: ignore[arg-type]
    )


#: Query parameters whose values are masked where a URL is shown (`appid`, `api_key`, ...).
SECRET_PARAM = re.compile(r"pass|secret|token|key|credential|auth|appid|sig", re.IGNORECASE)
MASK = "*****"


def public_url(url: URL | str, config: ClientAuthConfig | None = None) -> str:
    """A URL as it may be shown: without user info and the auth query parameter, and with
    the values of parameters named like secrets (`appid`, `api_key`, `token`) masked."""
    url = URL(url)
    if url.user or url.password:
        url = url.with_user(None)
    if config is not None and config.auth == "query" and config.auth_name in url.query:
        url = url.without_query_params(config.auth_name)
    if any(SECRET_PARAM.search(name) for name in url.query):
        url = url.with_query(
            [(k, MASK if SECRET_PARAM.search(k) else v) for k, v in url.query.items()]
        )
    return str(url)


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why `value` is not a URL of one of `schemes` (naming only its scheme), or None."""
    try:
        url = URL(value)
    except ValueError:
        return "url: not a URL"
    if url.scheme in schemes and url.host:
        return None
    names = " or ".join(f"{s}://" for s in schemes)
    return f"url: not a {names} URL (scheme {url.scheme!r})"
