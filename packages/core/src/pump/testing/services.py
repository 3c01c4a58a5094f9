"""External servers in tests: skip when one is missing, except in CI (PUMP_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

REQUIRE_SERVICES = "PUMP_REQUIRE_SERVICES"


def services_required() -> bool:
    """True when a missing service must fail the test run (PUMP_REQUIRE_SERVICES=1)."""
    return os.environ.get(REQUIRE_SERVICES, "").strip().lower() in {"1", "true", "yes", "on"}


def require_service(name: str, reason: str = "") -> NoReturn:
    """End a test whose server is unavailable: skip it, or fail it if services are required."""
    import pytest  # only tests call this; the harness itself does not need pytest

    message = f"service '{name}' is not available" + (f": {reason}" if reason else "")
    if services_required():
        pytest.fail(
            f"{message} ({REQUIRE_SERVICES}=1 makes a missing service a failure)", pytrace=False
        )
    pytest.skip(message)


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port can be opened."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service_address(name: str, env_var: str, default: str | None = None) -> str:
    """Where service `name` is: `$env_var` if set, else `default` if it answers, else give up.

    Addresses are "host:port" (a URL's host and port are probed the same way). Giving up means
    `require_service`: a skip, or a failure under PUMP_REQUIRE_SERVICES=1.
    """
    configured = os.environ.get(env_var)
    if configured:
        return configured
    if default is None:
        require_service(name, f"set {env_var} to its address")
    host, port = _host_port(default)
    if port is None or not reachable(host, port):
        require_service(name, f"nothing answers at {default}; set {env_var} to its address")
    return default


def _host_port(address: str) -> tuple[str, int | None]:
    rest = address.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return rest, None
    return host.strip("[]") or "127.0.0.1", int(port)
