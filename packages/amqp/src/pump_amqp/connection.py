"""AMQPConnection: one robust connection to a RabbitMQ broker, shared by AMQP sources and sinks.

The connection reconnects by itself (aio-pika's robust connection) with a growing delay; the
components using it open their own channels on it and open new ones after a reconnection,
because delivery tags and publisher confirms belong to one channel and die with it.
Credentials never leave this module unmasked: not in logs, errors, `repr` or `describe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import aio_pika
import aiormq
from pydantic import Field, SecretStr
from yarl import URL

import pump
from pump.errors import ConfigError
from pump_amqp.errors import AMQPConnectionError

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel

L = logging.getLogger(__name__)

MASK = "*****"
SCHEMES = ("amqp", "amqps")


def mask_url(url: str | URL) -> str:
    """The URL with its password (if any) replaced by a mask, safe to log."""
    try:
        parsed = URL(str(url)).with_query(None)
    except (TypeError, ValueError):
        return "<unparsable URL>"
    if parsed.password:
        parsed = parsed.with_password(MASK)
    return str(parsed)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret in it replaced by a mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class _BackoffConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection with a reconnection delay that doubles while it stays down.

    aio-pika sleeps `reconnect_interval` between attempts (and reads it for its log lines too,
    so it cannot count attempts); here it is `Backoff.for_downtime`: the time since the
    connection was lost, within [delay, delay_max], which doubles it per attempt.
    """

    def __init__(
        self, url: URL, *, reconnect_delay_max: float, owner: AMQPConnection, **kwargs: Any
    ) -> None:
        self._max_delay = reconnect_delay_max
        self._backoff = pump.Backoff(min(1.0, reconnect_delay_max), reconnect_delay_max, jitter=0.0)
        self._lost_at: float | None = None
        self._owner = owner
        self._up = False
        super().__init__(url, **kwargs)

    @property
    def reconnect_interval(self) -> float:
        if self._lost_at is None:
            return self._backoff.first
        return self._backoff.for_downtime(time.monotonic() - self._lost_at)

    @reconnect_interval.setter
    def reconnect_interval(self, value: float) -> None:
        first = float(value)
        self._backoff = pump.Backoff(first, max(first, self._max_delay), jitter=0.0)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        await super()._on_connection_close(closing)
        if self._up and not self._close_called and not self.is_closed:
            self._up = False
            self._lost_at = time.monotonic()
            self._owner._lost(closing)

    async def _on_connected(self) -> None:
        await super()._on_connected()
        down = None if self._lost_at is None else time.monotonic() - self._lost_at
        self._lost_at = None
        self._up = True
        self._owner._connected(down)


class AMQPConnectionConfig(pump.TLSConfig, pump.ReconnectConfig):
    """Settings of an AMQPConnection (TLS: an amqps:// URL and the tls_* keys)."""

    tls_deprecated_names: ClassVar[Mapping[str, str]] = {
        "ca_file": "tls_ca_file",
        "cert_file": "tls_cert_file",
        "key_file": "tls_key_file",
        "verify_tls": "tls_verify",
    }

    url: SecretStr = Field(
        SecretStr("amqp://guest:guest@localhost:5672/"),
        description=(
            "Broker URL, amqp://user:password@host:port/vhost or amqps://... "
            "(a secret: it may hold the password)"
        ),
        examples=["amqps://pump:secret@rabbit.example:5671/prod"],
    )
    username: str = Field("", description="User name; overrides the one in the URL when set")
    password: SecretStr = Field(
        SecretStr(""), description="Password; overrides the one in the URL when set"
    )
    heartbeat: int = Field(
        30, ge=0, description="Heartbeat interval asked of the broker, seconds (0: none)"
    )
    connection_timeout: float = Field(
        10.0, gt=0, description="Seconds to establish a connection before it counts as failed"
    )
    connection_name: str = Field(
        "", description="Name shown by the broker (rabbitmqctl list_connections); empty: pump:<id>"
    )


class AMQPConnection(pump.Connection):
    """A connection to an AMQP 0-9-1 broker (RabbitMQ): amqp:// or amqps:// with TLS.

    Sources and sinks name it by id; each opens its own channels on it with `open_channel`.
    `generation` counts (re)connections, so a component can tell that a channel it holds
    belongs to a connection that is gone.
    """

    ConfigModel = AMQPConnectionConfig
    Config: AMQPConnectionConfig

    connected = pump.Gauge("1 while connected to the server, else 0")
    reconnects = pump.Counter("Times the link to the server was re-established after a loss")

    def __init__(
        self,
        app: pump.Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, id, config)
        try:
            self._url = self._build_url()
        except ConfigError as exc:
            app.connection_failed(self.Id, "; ".join(exc.problems))
            raise
        self.masked_url = mask_url(self._url)
        self.connection: _BackoffConnection | None = None
        self.generation = 0
        self._connected_event = asyncio.Event()

    # -- configuration ------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        secrets = [self.Config.password.get_secret_value(), self.Config.url.get_secret_value()]
        with contextlib.suppress(TypeError, ValueError):
            secrets.append(URL(self.Config.url.get_secret_value()).password or "")
        return sorted((s for s in secrets if s), key=len, reverse=True)

    def _build_url(self) -> URL:
        config = self.Config
        raw = config.url.get_secret_value()
        try:
            url = URL(raw)
        except (TypeError, ValueError):
            raise ConfigError(self.location(), ["key 'url': not a URL"]) from None
        problems = []
        if url.scheme not in SCHEMES:
            problems.append(f"key 'url': scheme must be amqp:// or amqps://, got '{url.scheme}://'")
        if not url.host:
            problems.append("key 'url': no host in the URL")
        tls_files = config.tls_keys_given()
        if tls_files and url.scheme != "amqps":
            problems.append(f"key '{tls_files[0]}': TLS options need an amqps:// URL")
        if problems:
            raise ConfigError(self.location(), problems)
        if config.username:
            url = url.with_user(config.username)
        password = config.password.get_secret_value()
        if password:
            url = url.with_password(password)
        if url.port is None:
            url = url.with_port(5671 if url.scheme == "amqps" else 5672)
        return url.update_query(heartbeat=str(config.heartbeat))

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._url.scheme != "amqps":
            return None
        try:
            return self.Config.ssl_context()
        except pump.TLSError as exc:
            raise AMQPConnectionError(f"{self.location()}: {exc}") from None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect; fails at once with a clear AMQPConnectionError if the broker is unusable."""
        if self.connection is not None:
            return
        config = self.Config
        connection = _BackoffConnection(
            self._url,
            reconnect_delay_max=config.reconnect_delay_max,
            owner=self,
            ssl_context=self._ssl_context(),
            client_properties={"connection_name": config.connection_name or f"pump:{self.Id}"},
            reconnect_interval=config.reconnect_delay,
        )
        try:
            await connection.connect(timeout=config.connection_timeout)
        except asyncio.CancelledError:
            await _close_quietly(connection)
            raise
        except Exception as exc:
            await _close_quietly(connection)
            raise AMQPConnectionError(
                f"{self.location()}: cannot connect to {self.masked_url}: "
                f"{self.describe_error(exc)}"
            ) from None
        self.connection = connection
        L.info("%s: connected to %s", self.location(), self.masked_url)

    async def stop(self) -> None:
        """Close the connection (no reconnection after this)."""
        connection, self.connection = self.connection, None
        self.connected = 0
        self._connected_event.clear()
        if connection is not None:
            await _close_quietly(connection)

    # -- state changes (called by the robust connection) -------------------------------------

    def _connected(self, down: float | None) -> None:
        self.generation += 1
        self.connected = 1
        self._connected_event.set()
        if down is not None:
            self.reconnects += 1
            L.warning("%s: reconnected to %s after %.1fs", self.location(), self.masked_url, down)

    def _lost(self, closing: asyncio.Future[Any]) -> None:
        self.connected = 0
        self._connected_event.clear()
        reason = "closed"
        if closing.done() and not closing.cancelled() and closing.exception() is not None:
            reason = self.describe_error(closing.exception())  # type: ignore[arg-type]
        L.warning(
            "%s: connection to %s lost (%s); reconnecting", self.location(), self.masked_url, reason
        )

    # -- for components -------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True while the connection is up."""
        connection = self.connection
        return (
            connection is not None
            and connection.transport is not None
            and not connection.transport.connection.is_closed
            and self._connected_event.is_set()
        )

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the connection is up; AMQPConnectionError after `timeout` seconds."""
        if self.connection is None:
            raise AMQPConnectionError(f"{self.location()} is not started")
        if self.is_connected:
            return
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            raise AMQPConnectionError(
                f"{self.location()}: not connected to {self.masked_url} within {timeout}s"
            ) from None
        if self.connection is None:
            raise AMQPConnectionError(f"{self.location()} was stopped")

    async def open_channel(
        self, *, publisher_confirms: bool = False, timeout: float | None = None
    ) -> AbstractChannel:
        """A new channel on the current connection (waiting up to `timeout` for it to be up).

        With `publisher_confirms`, a returned (unroutable mandatory) message fails its publish.
        """
        await self.wait_connected(timeout)
        assert self.connection is not None and self.connection.transport is not None
        raw = self.connection.transport.connection
        try:
            return await raw.channel(
                publisher_confirms=publisher_confirms,
                on_return_raises=publisher_confirms,
                timeout=timeout,
            )
        except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            raise AMQPConnectionError(
                f"{self.location()}: cannot open a channel on {self.masked_url}: "
                f"{self.describe_error(exc)}"
            ) from None

    def describe_error(self, exc: BaseException) -> str:
        """`Type: message` for an error of this connection, with every credential masked."""
        text = scrub(str(exc), self._secrets()).strip()
        name = type(exc).__name__
        if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError):
            user = self._url.user or "guest"
            return (
                f"authentication refused for user '{user}' (wrong user name or password, or "
                f"no access to the virtual host): {text}"
            )
        if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in text:
            return (
                f"the broker closed the connection while opening it: does the virtual host "
                f"'{self._url.path[1:] or '/'}' exist, and may user '{self._url.user}' use it?"
            )
        if isinstance(exc, asyncio.TimeoutError):
            return f"no answer within {self.Config.connection_timeout}s"
        if isinstance(exc, ssl.SSLError):
            return f"TLS failed: {name}: {text}"
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused ({text})"
        return f"{name}: {text}" if text else name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r} {self.masked_url}>"


async def _close_quietly(connection: aio_pika.RobustConnection) -> None:
    try:
        await connection.close()
    except Exception:
        L.debug("closing an AMQP connection failed", exc_info=True)
