"""KafkaConnection: where the brokers are and how to talk to them; makes consumers and producers."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from pydantic import Field, SecretStr, model_validator

import pump
from pump_kafka.errors import BrokerUnavailable

if TYPE_CHECKING:
    from pump import Application
    from pump.state.backend import StateBackend

L = logging.getLogger(__name__)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaConnectionConfig(pump.TLSConfig, pump.ReconnectConfig):
    """Settings of a KafkaConnection (TLS: the tls_* keys, used with SSL and SASL_SSL)."""

    tls_deprecated_names: ClassVar[Mapping[str, str]] = {
        "ssl_cafile": "tls_ca_file",
        "ssl_certfile": "tls_cert_file",
        "ssl_keyfile": "tls_key_file",
        "ssl_key_password": "tls_key_password",
        "ssl_check_hostname": "tls_check_hostname",
    }

    bootstrap_servers: str | list[str] = Field(
        "localhost:9092",
        description="Brokers to bootstrap from: 'host:port[,host:port]' or a list",
        examples=["kafka1:9092,kafka2:9092", ["kafka1:9092", "kafka2:9092"]],
    )
    client_id: str = Field("pump", description="Client id the brokers see (logs, quotas)")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: SaslMechanism = Field(
        "PLAIN", description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    sasl_username: str = Field("", description="SASL user (SASL_* protocols)")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (secret)")
    request_timeout_ms: int = Field(40000, gt=0, description="Timeout of one request to a broker")
    retry_backoff_ms: int = Field(100, gt=0, description="Pause before retrying a failed request")
    metadata_max_age_ms: int = Field(
        300000, gt=0, description="Refresh cluster metadata at least this often"
    )
    check_on_start: bool = Field(
        True,
        description=(
            "On start, connect once and fail with a clear error if the brokers cannot be reached"
        ),
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds the start check may take")
    reconnect_delay: float = Field(
        1.0, gt=0, description="First pause after a failed fetch or commit, seconds (then doubles)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> KafkaConnectionConfig:
        problems = []
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password.get_secret_value()
        ):
            problems.append(
                f"security_protocol {self.security_protocol} needs sasl_username and sasl_password"
            )
        if not _servers(self.bootstrap_servers):
            problems.append("bootstrap_servers is empty")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _servers(value: str | list[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [s.strip() for s in items if s.strip()]


class KafkaConnection(pump.Connection):
    """Shared settings for Kafka clients: brokers, client id, TLS and SASL; secrets stay masked.

    Sources, sinks and the topic initializer ask it for their aiokafka clients
    (`create_consumer`, `create_producer`, `create_admin`).
    """

    ConfigModel = KafkaConnectionConfig
    Config: KafkaConnectionConfig

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(app, id, config)
        self._ssl_context: ssl.SSLContext | None = None

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap servers as a list of 'host:port'."""
        return _servers(self.Config.bootstrap_servers)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client of this connection gets (holds the secrets)."""
        cfg = self.Config
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": cfg.client_id,
            "security_protocol": cfg.security_protocol,
            "request_timeout_ms": cfg.request_timeout_ms,
            "retry_backoff_ms": cfg.retry_backoff_ms,
            "metadata_max_age_ms": cfg.metadata_max_age_ms,
        }
        if cfg.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self.ssl_context()
        if cfg.security_protocol.startswith("SASL_"):
            options["sasl_mechanism"] = cfg.sasl_mechanism
            options["sasl_plain_username"] = cfg.sasl_username
            options["sasl_plain_password"] = cfg.sasl_password.get_secret_value()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for SSL/SASL_SSL (the tls_* keys), built once."""
        if self._ssl_context is None:
            try:
                self._ssl_context = self.Config.ssl_context()
            except pump.TLSError as exc:
                raise BrokerUnavailable(f"{self.location()}: {exc}") from None
        return self._ssl_context

    def create_consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        """A new (not started) aiokafka consumer; `options` override the connection's."""
        return AIOKafkaConsumer(*topics, **{**self.client_options(), **options})

    def create_producer(self, **options: Any) -> AIOKafkaProducer:
        """A new (not started) aiokafka producer; `options` override the connection's."""
        return AIOKafkaProducer(**{**self.client_options(), **options})

    def create_admin(self, **options: Any) -> AIOKafkaAdminClient:
        """A new (not started) aiokafka admin client."""
        return AIOKafkaAdminClient(**{**self.client_options(), **options})

    def state_changelog(self, local: StateBackend, prefix: str) -> StateBackend:
        """A state backend keeping checkpoints in `local` and in changelog topics named
        `<prefix>.<processor>.<source topic>` (a pipeline's `state_changelog`)."""
        from pump_kafka.changelog import KafkaChangelog

        return KafkaChangelog(local, self, prefix)

    async def start(self) -> None:
        """Check the brokers once, so a wrong address or credentials fail the start clearly."""
        if self.Config.check_on_start:
            await self.check()

    async def check(self) -> None:
        """Connect to the cluster and fetch its metadata; raise BrokerUnavailable saying why not."""
        options = self.client_options()
        client = AIOKafkaClient(**options)
        try:
            await asyncio.wait_for(client.bootstrap(), self.Config.connect_timeout)
        except (TimeoutError, KafkaError, OSError) as exc:
            reasons = await self._diagnose(options)
            raise BrokerUnavailable(
                f"{self.location()}: cannot use Kafka at {','.join(self.bootstrap_servers)} "
                f"(security_protocol {self.Config.security_protocol}"
                + (
                    f", sasl_mechanism {self.Config.sasl_mechanism}"
                    if self.Config.security_protocol.startswith("SASL_")
                    else ""
                )
                + "): "
                + ("; ".join(reasons) or f"{type(exc).__name__}: {exc}")
            ) from None
        finally:
            await client.close()

    async def list_topics(self) -> set[str]:
        """Names of the topics that exist now."""
        client = AIOKafkaClient(**self.client_options())
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            return set(metadata.topics())
        finally:
            await client.close()

    async def _diagnose(self, options: dict[str, Any]) -> list[str]:
        """Why each bootstrap server failed, in words (aiokafka only logs it)."""
        reasons = []
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            if not port.isdigit():
                reasons.append(f"{server}: not a host:port address")
                continue
            try:
                conn = await asyncio.wait_for(
                    create_conn(
                        host.strip("[]") or "localhost",
                        int(port),
                        client_id=options["client_id"],
                        request_timeout_ms=options["request_timeout_ms"],
                        ssl_context=options.get("ssl_context"),
                        security_protocol=options["security_protocol"],
                        sasl_mechanism=options.get("sasl_mechanism"),
                        sasl_plain_username=options.get("sasl_plain_username"),
                        sasl_plain_password=options.get("sasl_plain_password"),
                    ),
                    self.Config.connect_timeout,
                )
            except UnsupportedSaslMechanismError:
                reasons.append(
                    f"{server}: the broker does not accept SASL mechanism "
                    f"{self.Config.sasl_mechanism} (check security_protocol and sasl_mechanism; "
                    "a broker without SASL needs PLAINTEXT or SSL)"
                )
            except SaslAuthenticationFailed as exc:
                reasons.append(
                    f"{server}: authentication failed for user {self.Config.sasl_username!r} "
                    f"({exc}; check sasl_username, sasl_password and sasl_mechanism)"
                )
            except ssl.SSLError as exc:
                reasons.append(f"{server}: TLS failed ({exc}; check the tls_* settings)")
            except TimeoutError:
                reasons.append(f"{server}: no answer within {self.Config.connect_timeout}s")
            except (KafkaError, OSError) as exc:
                text = str(exc) or type(exc).__name__
                if isinstance(exc, ConnectionError) and "Connect call failed" in text:
                    text += " (is a broker listening there?)"
                reasons.append(f"{server}: {text}")
            else:
                conn.close()
                reasons.append(f"{server}: connected, but fetching the cluster metadata failed")
        return reasons
