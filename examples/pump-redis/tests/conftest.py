"""Fixtures of pump-redis's tests: a real Redis, found through PUMP_REDIS_URL first.

The server is `$PUMP_REDIS_URL`, else the one on 127.0.0.1:6379, else a `redis-server` this
session starts on a free port (stopped by its PID at the end). Without any, the tests are
skipped — or fail, under PUMP_REQUIRE_SERVICES=1 (CI). Every test uses keys of its own
(`pump-redis-test-…`), deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pump.testing import require_service

URL_ENV = "PUMP_REDIS_URL"
LOCAL_URL = "redis://127.0.0.1:6379/0"
HERE = Path(__file__).resolve().parent


def answers(url: str) -> bool:
    """True when a Redis server at `url` replies to PING."""
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this package that uses the server is a `service` test."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and "redis_url" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.service)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The server's URL (skip, or fail under PUMP_REQUIRE_SERVICES=1, when there is none)."""
    configured = os.environ.get(URL_ENV)
    if configured:
        if not answers(configured):
            require_service("redis", f"nothing answers at {configured} ({URL_ENV})")
        yield configured
        return
    if answers(LOCAL_URL):
        yield LOCAL_URL
        return
    server = shutil.which("redis-server")
    if server is None:
        require_service(
            "redis", f"nothing answers at 127.0.0.1:6379 and no redis-server; set {URL_ENV}"
        )
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                require_service("redis", f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def keys(redis_url: str) -> Iterator[str]:
    """A fresh key prefix for the test; every key under it is deleted afterwards."""
    prefix = f"pump-redis-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(match=f"{prefix}*"))
        if names:
            client.delete(*names)
    finally:
        client.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain (synchronous) redis-py client: the test's own view of the server."""
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()
