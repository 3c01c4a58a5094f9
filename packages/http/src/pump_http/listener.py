"""Listener: the aiohttp server of a source (address, limits), started and stopped with it."""

from __future__ import annotations

import ipaddress
import logging
import socket

from aiohttp import web
from pydantic import Field, field_validator

import pump
from pump_http.errors import HTTPConnectorError

L = logging.getLogger(__name__)


class ListenerConfig(pump.ComponentConfig):
    """Base of a server source's config model: where it listens."""

    host: str = Field(
        "127.0.0.1",
        description="Address to listen on; 127.0.0.1 by default, 0.0.0.0 for every interface",
    )
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port)")
    path: str = Field("/", description="URL path the source answers on", examples=["/hooks/github"])
    backlog: int = Field(128, gt=0, le=65535, description="Connections waiting to be accepted")
    shutdown_timeout: float = Field(
        5.0, ge=0, description="Seconds stop() gives open requests and connections to finish"
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', got {value!r}")
        return value


class Listener:
    """An aiohttp application served on one socket; `port` is known once `start()` returned."""

    def __init__(self, app: web.Application, config: ListenerConfig, where: str) -> None:
        self.app = app
        self.config = config
        self.where = where
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, authenticated: bool = True) -> None:
        """Bind the socket and serve; HTTPConnectorError names the address if that fails.

        Listening beyond loopback without authentication (`authenticated` False) is allowed,
        with a warning: anyone who reaches the address can send events.
        """
        c = self.config
        if not authenticated and not is_loopback(c.host):
            L.warning(
                "%s: listening on %s without a token or signature: anyone who reaches it can "
                "send events (set token or hmac_secret)",
                self.where,
                c.host,
            )
        try:
            sock = socket.create_server(
                (c.host, c.port), backlog=c.backlog, reuse_port=False, family=_family(c.host)
            )
        except OSError as exc:
            raise HTTPConnectorError(
                f"{self.where}: cannot listen on {c.host}:{c.port}: {exc}"
            ) from None
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=c.shutdown_timeout
        )
        await runner.setup()
        site = web.SockSite(runner, sock, backlog=c.backlog)
        await site.start()
        self._runner = runner
        L.info("%s: listening on %s:%d%s", self.where, c.host, self.port, c.path)

    async def stop(self) -> None:
        """Stop accepting, give open requests `shutdown_timeout` seconds, close everything."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """The base URL a client on this machine reaches the listener at."""
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.config.path}"


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
