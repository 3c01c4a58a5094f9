"""ElasticsearchConnection: where the cluster is, how to authenticate; one shared async client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, AsyncElasticsearch, AuthenticationException
from elasticsearch.serializer import OrjsonSerializer
from pydantic import Field, SecretStr, model_validator

import pump
from pump.backoff import retry_after
from pump_elastic.errors import ClusterUnavailable, ElasticsearchConnectorError

if TYPE_CHECKING:
    from pump import Application

L = logging.getLogger(__name__)
T = TypeVar("T")

#: Whole-request statuses worth retrying: the cluster is busy or a node is briefly away.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ElasticsearchConnectionConfig(pump.TLSConfig, pump.ReconnectConfig):
    """Settings of an ElasticsearchConnection (TLS keys and retry pauses as in every connector)."""

    url: str | list[str] = Field(
        "http://localhost:9200",
        description="Node URLs: a list, or one string separated by ';' or ',' (BSPump's form)",
    )
    username: str = Field("", description="User for basic authentication ('': none)")
    password: SecretStr = Field(
        SecretStr(""), description="Password for basic authentication (secret)"
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="API key, the encoded 'id:key' form (secret)"
    )
    bearer_token: SecretStr = Field(SecretStr(""), description="Bearer token (secret)")
    request_timeout: float = Field(30.0, gt=0, description="Seconds one request may take")
    retries: int = Field(
        3, ge=0, description="Retries of a request on connection errors and 429/502/503/504"
    )
    connections_per_node: int = Field(16, gt=0, description="HTTP connections kept open per node")
    http_compress: bool = Field(False, description="Gzip request bodies")
    check_on_start: bool = Field(
        True, description="On start, call the cluster once and fail clearly when it cannot be used"
    )

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> ElasticsearchConnectionConfig:
        problems = []
        given = {
            "username": bool(self.username),
            "api_key": bool(self.api_key.get_secret_value()),
            "bearer_token": bool(self.bearer_token.get_secret_value()),
        }
        if sum(given.values()) > 1:
            chosen = ", ".join(k for k, v in given.items() if v)
            problems.append(f"give one way to authenticate, not several ({chosen})")
        if self.password.get_secret_value() and not self.username:
            problems.append("password: set, but username is not")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def split_urls(value: str | list[str]) -> list[str]:
    """Node URLs from a list or a ';'/','-separated string."""
    items = value.replace(";", ",").split(",") if isinstance(value, str) else value
    return [u.strip().rstrip("/") for u in items if u.strip()]


def mask_url(url: str) -> str:
    """The URL with any password in it replaced by a mask."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:*****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class ElasticsearchConnection(pump.Connection):
    """The cluster's nodes, credentials and TLS; gives components one shared AsyncElasticsearch.

    `request(what, call)` runs a client call with the connection's retry policy: connection
    errors and 429/502/503/504 answers are retried with `pump.Backoff` up to `retries` times
    (waiting at least what a node's Retry-After asks), each retry logged; then the error is
    raised. The client itself never retries, so every
    retry is visible and bounded. Secrets never appear in messages or `describe` output.
    """

    ConfigModel = ElasticsearchConnectionConfig
    Config: ElasticsearchConnectionConfig

    retried = pump.Counter("Requests retried after a connection error or a 429/502/503/504 answer")

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(app, id, config)
        # The URLs are checked here: credentials written into one move out of the config.
        self._url_auth: tuple[str, str] | None = None
        problems = self._problems()
        if problems:
            raise pump.ConfigError(self.location(), problems)
        self._client: AsyncElasticsearch | None = None
        self._log = pump.RateLimitedLog(L, 5.0)

    def _problems(self) -> list[str]:
        cfg = self.Config
        problems = []
        urls = []
        for url in split_urls(cfg.url):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"key 'url': {mask_url(url)!r} is not an http(s)://host[:port] URL")
                continue
            if parts.username is not None:
                self._url_auth = (parts.username, parts.password or "")
                netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
                url = urlunsplit(parts._replace(netloc=netloc))
            urls.append(url)
        if not split_urls(cfg.url):
            problems.append("key 'url': url is empty")
        elif not problems:
            cfg.url = urls
        return problems

    @property
    def urls(self) -> list[str]:
        """The node URLs, as configured."""
        return split_urls(self.Config.url)

    def describe_nodes(self) -> str:
        """The node URLs for messages (passwords masked)."""
        return ", ".join(mask_url(u) for u in self.urls)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of the AsyncElasticsearch this connection makes (holds the secrets)."""
        cfg = self.Config
        options: dict[str, Any] = {
            "hosts": self.urls,
            "request_timeout": cfg.request_timeout,
            "max_retries": 0,  # retried by request(), with backoff and a log line each
            "retry_on_timeout": False,
            "connections_per_node": cfg.connections_per_node,
            "http_compress": cfg.http_compress,
            # orjson parses bulk answers (one object per item) several times faster
            "serializer": OrjsonSerializer(),
        }
        if cfg.username:
            options["basic_auth"] = (cfg.username, cfg.password.get_secret_value())
        elif self._url_auth is not None:
            options["basic_auth"] = self._url_auth
        elif cfg.api_key.get_secret_value():
            options["api_key"] = cfg.api_key.get_secret_value()
        elif cfg.bearer_token.get_secret_value():
            options["bearer_auth"] = cfg.bearer_token.get_secret_value()
        if any(u.startswith("https:") for u in self.urls):
            options["ssl_context"] = self.Config.ssl_context()
        return options

    @property
    def client(self) -> AsyncElasticsearch:
        """The shared client (made on first use)."""
        if self._client is None:
            self._client = AsyncElasticsearch(**self.client_options())
        return self._client

    async def start(self) -> None:
        """Check the cluster once, so a wrong address or credentials fail the start clearly."""
        if self.Config.check_on_start:
            await self.check()

    async def stop(self) -> None:
        """Close the client's connections."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def check(self) -> dict[str, Any]:
        """Call the root info API; ClusterUnavailable says why the cluster cannot be used."""
        try:
            info = await self.request("info", lambda c: c.info(), retries=0)
        except ClusterUnavailable:
            raise
        except Exception as exc:
            raise ClusterUnavailable(f"{self.location()}: {self.explain(exc)}") from None
        return dict(info.body)

    def explain(self, exc: BaseException) -> str:
        """One line on why a request failed, naming the nodes and never a secret."""
        nodes = self.describe_nodes()
        if isinstance(exc, AuthenticationException):
            user = self.Config.username or (self._url_auth[0] if self._url_auth else "")
            who = f"user {user!r}" if user else "the given credentials"
            return (
                f"authentication failed at {nodes} for {who} (check username/password, "
                "api_key or bearer_token)"
            )
        if isinstance(exc, ApiError):
            return f"{nodes} answered {exc.meta.status}: {_reason(exc)}"
        if isinstance(exc, TransportConnectionError | ConnectionTimeout):
            return (
                f"cannot reach {nodes}: {type(exc).__name__}: {_strip(exc)} "
                "(is a node listening there?)"
            )
        return f"{nodes}: {type(exc).__name__}: {_strip(exc)}"

    async def request(
        self,
        what: str,
        call: Callable[[AsyncElasticsearch], Awaitable[T]],
        *,
        retries: int | None = None,
        where: str = "",
    ) -> T:
        """`await call(client)` with the retry policy; the last error is raised when it runs out."""
        cfg = self.Config
        backoff = cfg.backoff()
        backoff.attempts = cfg.retries if retries is None else retries
        while True:
            try:
                return await call(self.client)
            except (ApiError, TransportError) as exc:
                if not retryable(exc) or backoff.exhausted:
                    raise
                self.retried += 1
                await backoff.pause(
                    self._log,
                    f"{where or self.location()}: {what} failed ({self.explain(exc)})",
                    asked=_retry_after(exc),
                )

    async def api(
        self, endpoint: str, *, where: str = "", retries: int | None = None, **params: Any
    ) -> Any:
        """`client.<endpoint>(**params)` ("search", "indices.create", ...) with the retry policy."""

        def call(client: AsyncElasticsearch) -> Awaitable[Any]:
            target: Any = client
            for part in endpoint.split("."):
                target = getattr(target, part)
            return target(**params)  # type: ignore[no-any-return]

        return await self.request(endpoint, call, retries=retries, where=where)


def retryable(exc: BaseException) -> bool:
    """True for failures a later attempt may not have: connection errors, 429/502/503/504."""
    if isinstance(exc, ApiError):
        return exc.meta.status in RETRY_STATUSES
    return isinstance(exc, TransportConnectionError | ConnectionTimeout)


def _retry_after(exc: BaseException) -> float | None:
    """Seconds a busy node asked to wait (the Retry-After of its 429/503), if it said."""
    if not isinstance(exc, ApiError):
        return None
    headers = getattr(exc.meta, "headers", None) or {}
    return retry_after(headers.get("Retry-After"))


def _reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('type')}: {error.get('reason')}"
    return str(exc.message)


def _strip(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


__all__ = [
    "ElasticsearchConnection",
    "ElasticsearchConnectionConfig",
    "ElasticsearchConnectorError",
]
