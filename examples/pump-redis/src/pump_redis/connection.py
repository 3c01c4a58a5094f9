"""RedisConnection: one redis-py asyncio client shared by every source and sink that names it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pump
import redis.asyncio as aioredis
from pydantic import Field, SecretStr


class RedisConnectionConfig(pump.ReconnectConfig):
    """Settings of a RedisConnection; reconnect_delay(_max) come from pump.ReconnectConfig."""

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="The server: redis://host:port/db (rediss:// for TLS); no password here",
        examples=["redis://127.0.0.1:6379/0"],
    )
    # A SecretStr is masked in logs, errors and `pump describe`.
    password: SecretStr | None = Field(None, description="Password (AUTH), if the server wants one")
    username: str | None = Field(None, description="User name (ACL), with password")
    socket_timeout: float = Field(10.0, gt=0, description="Seconds a command may take")


class RedisConnection(pump.Connection):
    """The client to a Redis server, opened when the application starts."""

    ConfigModel = RedisConnectionConfig
    Config: RedisConnectionConfig

    def __init__(self, app: Any, id: str | None = None, config: Any = None) -> None:
        super().__init__(app, id, config)
        self.client: aioredis.Redis | None = None

    async def start(self) -> None:
        password = self.Config.password.get_secret_value() if self.Config.password else None
        client = aioredis.Redis.from_url(
            self.Config.url,
            username=self.Config.username,
            password=password,
            socket_timeout=self.Config.socket_timeout,
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise pump.PumpError(
                f"{self.location()}: cannot reach Redis at {without_password(self.Config.url)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self.client = client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def get_client(self) -> aioredis.Redis:
        """The open client (the application starts connections before pipelines)."""
        if self.client is None:
            raise pump.BuildError(f"{self.location()}: not started")
        return self.client


def without_password(url: str) -> str:
    """The URL with any user:password@ removed (for messages)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
