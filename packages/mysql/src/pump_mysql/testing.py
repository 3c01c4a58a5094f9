"""Helpers pump-mysql's tests, benchmark and users share: the test server's settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

#: Where the tests look for a server: this variable, else LOCAL_URL.
URL_ENV = "PUMP_MYSQL_URL"
LOCAL_URL = "mysql://root@127.0.0.1:3306/test"


def settings_from_url(url: str) -> dict[str, Any]:
    """MySQLConnection settings (host, port, user, password, database) of a mysql:// URL."""
    parts = urlsplit(url if "://" in url else f"mysql://{url}")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or "test",
    }
