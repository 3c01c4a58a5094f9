"""Fixtures of pump-amqp's tests: a real RabbitMQ, and a test-side helper to use it.

The broker is `$PUMP_AMQP_URL`, else RabbitMQ on 127.0.0.1:5672 (started once with
`rabbitmq-server -detached` when it is installed but not running). Without a broker the tests
are skipped — or fail, under PUMP_REQUIRE_SERVICES=1 (CI). Every test uses queues and
exchanges of its own, with unique names, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aio_pika
import orjson
import pytest
from yarl import URL

from pump.testing import require_service

URL_ENV = "PUMP_AMQP_URL"
LOCAL_URL = "amqp://guest:guest@127.0.0.1:5672/"
START_TIMEOUT = 60.0

_started_once = False


def _reachable(url: str, timeout: float = 0.5) -> bool:
    parsed = URL(url)
    try:
        with socket.create_connection(
            (parsed.host or "127.0.0.1", parsed.port or 5672), timeout=timeout
        ):
            return True
    except OSError:
        return False


def _start_local_broker() -> bool:
    """Start the locally installed RabbitMQ (once per session); True once it answers."""
    global _started_once
    server = shutil.which("rabbitmq-server")
    if server is None or _started_once:
        return False
    _started_once = True
    subprocess.run([server, "-detached"], check=False, capture_output=True, timeout=60)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _reachable(LOCAL_URL):
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker's URL (skip, or fail under PUMP_REQUIRE_SERVICES=1, when there is none)."""
    configured = os.environ.get(URL_ENV)
    if configured:
        return configured
    if _reachable(LOCAL_URL) or _start_local_broker():
        return LOCAL_URL
    require_service(
        "rabbitmq", f"nothing answers at 127.0.0.1:5672 and it could not be started; set {URL_ENV}"
    )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def rabbitmqctl(amqp_url: str) -> str:
    """Path of rabbitmqctl, for fault injection on a local broker."""
    path = shutil.which("rabbitmqctl")
    host = URL(amqp_url).host
    if path is None or host not in ("127.0.0.1", "localhost", "::1"):
        require_service("rabbitmqctl", "fault injection needs rabbitmqctl of a local broker")
    assert path is not None
    return path


class Broker:
    """The test's own view of the broker (plain aio-pika): names, declarations, messages."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: aio_pika.abc.AbstractConnection | None = None
        self.channel: aio_pika.abc.AbstractChannel | None = None
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self.prefix = f"pump-amqp-test-{uuid.uuid4().hex[:8]}"
        self._names = 0
        self._peeking = asyncio.Lock()

    async def _channel(self) -> aio_pika.abc.AbstractChannel:
        # A fault test closes every connection: reconnect then.
        if self.connection is None or self.connection.is_closed:
            self.connection = await aio_pika.connect(self.url)
            self.channel = None
        if self.channel is None or self.channel.is_closed:
            self.channel = await self.connection.channel()
        return self.channel

    def name(self, kind: str) -> str:
        """A fresh unique name."""
        self._names += 1
        return f"{self.prefix}-{kind}-{self._names}"

    def forget_later(self, queue: str | None = None, exchange: str | None = None) -> None:
        """Delete these at the end of the test (for names a component declared)."""
        if queue:
            self.queues.append(queue)
        if exchange:
            self.exchanges.append(exchange)

    async def queue(
        self,
        name: str | None = None,
        *,
        durable: bool = True,
        arguments: dict[str, Any] | None = None,
    ) -> str:
        """Declare a queue (deleted after the test)."""
        name = name or self.name("q")
        channel = await self._channel()
        await channel.declare_queue(name, durable=durable, arguments=arguments)
        self.queues.append(name)
        return name

    async def exchange(
        self, name: str | None = None, type: str = "direct", *, durable: bool = True
    ) -> str:
        """Declare an exchange (deleted after the test)."""
        name = name or self.name("x")
        channel = await self._channel()
        await channel.declare_exchange(name, type, durable=durable)
        self.exchanges.append(name)
        return name

    async def bind(self, queue: str, exchange: str, routing_key: str = "") -> None:
        """Bind a queue to an exchange."""
        channel = await self._channel()
        q = await channel.get_queue(queue, ensure=False)
        await q.bind(exchange, routing_key)

    async def publish(
        self,
        bodies: Iterable[bytes | Any],
        *,
        queue: str | None = None,
        exchange: str = "",
        routing_key: str = "",
        headers: dict[str, Any] | None = None,
        **properties: Any,
    ) -> None:
        """Publish persistent messages (non-bytes bodies as JSON), confirmed, in order."""
        channel = await self._channel()
        target = (
            await channel.get_exchange(exchange, ensure=False)
            if exchange
            else channel.default_exchange
        )
        key = queue if queue is not None else routing_key
        pending = []
        for body in bodies:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            message = aio_pika.Message(
                data, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, headers=headers, **properties
            )
            pending.append(target.publish(message, routing_key=key))
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)

    async def count(self, queue: str) -> int:
        """Messages ready in the queue (not counting unacknowledged ones)."""
        return (await self._declare_ok(queue)).message_count or 0

    async def consumers(self, queue: str) -> int:
        """Consumers of the queue."""
        return (await self._declare_ok(queue)).consumer_count or 0

    async def _declare_ok(self, queue: str) -> Any:
        channel = await (await self._connection()).channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            return declared.declaration_result
        finally:
            await channel.close()

    async def _connection(self) -> aio_pika.abc.AbstractConnection:
        await self._channel()
        assert self.connection is not None
        return self.connection

    async def take(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Remove and return every message now in the queue.

        Messages are acknowledged only once all were read: if the connection drops meanwhile
        (fault tests), they stay in the queue and this raises; `retrying` calls it again.
        """
        channel = await self._channel()
        q = await channel.get_queue(queue, ensure=False)
        out: list[aio_pika.abc.AbstractIncomingMessage] = []
        while True:
            message = await q.get(no_ack=False, fail=False)
            if message is None:
                break
            out.append(message)
        if out:
            await out[-1].ack(multiple=True)
        return out

    async def peek(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Every message now in the queue, left in it (read unacknowledged, then given back)."""
        async with self._peeking:  # concurrent peeks would hide messages from each other
            return await self._peek(queue)

    async def _peek(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        channel = await (await self._connection()).channel()
        try:
            q = await channel.get_queue(queue, ensure=False)
            out = []
            while True:
                message = await q.get(no_ack=False, fail=False)
                if message is None:
                    return out
                out.append(message)
        finally:
            await channel.close()  # gives every unacknowledged message back

    async def take_json(self, queue: str) -> list[Any]:
        """Remove every message now in the queue; their JSON bodies (retried on a drop)."""
        return [orjson.loads(m.body) for m in await self.retrying(self.take, queue)]

    async def retrying(self, operation: Any, *args: Any, attempts: int = 20) -> Any:
        """Run `operation(*args)`, reconnecting and retrying while the connection is dropped."""
        for attempt in range(attempts):
            try:
                return await operation(*args)
            except (
                aio_pika.exceptions.AMQPError,
                ConnectionError,
                RuntimeError,
                asyncio.CancelledError,
            ):
                if attempt == attempts - 1:
                    raise
                self.channel = None
                if self.connection is not None:
                    with contextlib.suppress(Exception):
                        await self.connection.close()
                self.connection = None
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def wait_count(self, queue: str, at_least: int, timeout: float = 30.0) -> int:
        """Wait until the queue holds at least `at_least` ready messages; returns the count."""
        deadline = time.monotonic() + timeout
        while True:
            n = await self.retrying(self.count, queue)
            if n >= at_least or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Delete what the test declared (reconnecting if a fault test dropped us); disconnect."""
        for queue in self.queues:
            with contextlib.suppress(Exception):
                await self.retrying(self._delete_queue, queue, attempts=3)
        for exchange in self.exchanges:
            with contextlib.suppress(Exception):
                await self.retrying(self._delete_exchange, exchange, attempts=3)
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()

    async def _delete_queue(self, queue: str) -> None:
        await (await self._channel()).queue_delete(queue)

    async def _delete_exchange(self, exchange: str) -> None:
        await (await self._channel()).exchange_delete(exchange)


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    """A Broker helper; what the test declared is deleted afterwards."""
    helper = Broker(amqp_url)
    try:
        await helper._channel()
    except Exception as exc:
        require_service("rabbitmq", f"cannot connect to the broker: {type(exc).__name__}")
    yield helper
    await helper.close()


def _recording_sink_class() -> Any:
    import pump

    class _RecordingSink(pump.Sink):
        """Keeps (context, event) of every write; with a `gate`, writes wait until it is set."""

        def __init__(self, app: Any, pipeline: Any, id: str | None = None) -> None:
            super().__init__(app, pipeline, id)
            self.outputs: list[tuple[dict[str, Any], Any]] = []
            self.writes = 0
            self.gate: asyncio.Event | None = None

        def write(self, events: list[Any], contexts: list[dict[str, Any]]) -> Any:
            self.writes += 1
            if self.gate is None:
                self.outputs.extend(zip((dict(c) for c in contexts), events, strict=True))
                return None
            return self._later(list(events), [dict(c) for c in contexts], self.gate)

        async def _later(
            self, events: list[Any], contexts: list[dict[str, Any]], gate: asyncio.Event
        ) -> None:
            await gate.wait()
            self.outputs.extend(zip(contexts, events, strict=True))

        @property
        def events(self) -> list[Any]:
            return [e for _, e in self.outputs]

    return _RecordingSink


@pytest.fixture
def recording_sink() -> Any:
    """The class of a sink that records what it writes (set `gate` to hold writes)."""
    return _recording_sink_class()


@pytest.fixture
async def amqp_app(amqp_url: str) -> AsyncIterator[Any]:
    """A pump Application with an AMQPConnection 'amqp' to the broker; stopped after the test."""
    import pump
    from pump_amqp import AMQPConnection

    app = pump.Application(exit_when_finished=False, tune_runtime=False)
    app.add_connection(
        AMQPConnection(app, "amqp", config={"url": amqp_url, "reconnect_delay": 0.2})
    )
    yield app
    if app._started:
        await app.stop(timeout=1.0)
    else:
        for connection in app.Connections.values():
            await connection.stop()


async def wait_for(condition: Any, timeout: float = 20.0, interval: float = 0.02) -> bool:
    """Poll `condition()` (sync or async) until true; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


@pytest.fixture
def wait() -> Any:
    """`await wait(condition, timeout)`: poll until true (False on timeout)."""
    return wait_for
