"""Faults on real servers: a server stopped mid-stream, answers 429/503, a SIGKILLed `pump run`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from pump.testing import BatchRecord, wait_until
from pump.testing.process import PumpRun
from pump_influxdb.testing import InfluxDB1Server

HERE = Path(__file__).resolve().parent


@pytest.fixture
def private_influxdb(influxdb1: Any, tmp_path: Path) -> Any:
    """An InfluxDB 1.x of this test alone (it is stopped and started again)."""
    server = InfluxDB1Server(tmp_path / "influxd", binary=influxdb1.binary)
    server.folder.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_the_server_stopped_mid_stream_and_restarted_loses_nothing(
    private_influxdb: Any, sink_run: Any
) -> None:
    server = private_influxdb
    database = server.create_database("faults")
    total = 30_000
    run = sink_run(
        {
            "url": server.url,
            "api": "v1",
            "database": database,
            "reconnect_delay": 0.05,
            "reconnect_delay_max": 0.2,
            "timeout": 2,
        },
        {"measurement": "m", "tags": ["host"], "batch_max_points": 500, "write_retries": 2},
        batch_size=250,
        sink_retries=-1,
        max_in_flight=2000,
    )
    run.feed([{"host": f"h{i % 7}", "v": i, "time": 1_600_000_000 + i} for i in range(total)])
    await run.app.start()
    try:
        assert await wait_until(lambda: run.sink.points_written >= 3000, 30.0)
        await asyncio.to_thread(server.stop)
        stopped_at = run.sink.points_written
        retries = run.sink.retries
        await asyncio.sleep(1.0)  # writes fail meanwhile: retried, then retried by the pipeline
        assert run.sink.retries > retries, "the writes during the outage were not retried"
        await asyncio.to_thread(server.start)
        assert await wait_until(run.settled, 60.0), "batches still pending after the restart"
    finally:
        await run.app.stop(timeout=5.0)
    assert stopped_at < total, "stopped mid-stream"
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    assert not run.dead_letters()
    assert run.sink.retries > 0
    assert server.count(database, "m", "v") == total


class FaultProxy:
    """An HTTP proxy in front of a real server that answers the first writes itself."""

    def __init__(self, target: str, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.target = target
        self.answers = list(answers)
        self.seen: list[tuple[float, str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((time.monotonic(), request.path))
        if request.path == "/write" and self.answers:
            status, headers = self.answers.pop(0)
            return web.Response(status=status, headers=headers, text='{"error":"busy"}')
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            data=body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        ) as answer:
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
            )

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@pytest.fixture
async def busy_proxy(db: Any) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(
        db.server.url,
        [(503, {"Retry-After": "1"}), (429, {"Retry-After": "0.5"}), (503, {})],
    )
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_429_and_503_are_retried_honouring_retry_after(
    db: Any, busy_proxy: FaultProxy, sink_run: Any
) -> None:
    run = sink_run(
        db.connection_config(url=busy_proxy.url, reconnect_delay=0.01, reconnect_delay_max=0.05),
        {"measurement": "busy", "batch_max_points": 100},
        batch_size=100,
        sink_retries=0,
    )
    run.feed([{"v": i, "time": 1_600_000_000 + i} for i in range(100)])
    started = time.monotonic()
    await run.run()
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED}
    assert len(db.points("busy")) == 100
    assert run.sink.retries == 3
    writes = [t for t, path in busy_proxy.seen if path == "/write"]
    assert len(writes) == 4
    assert writes[1] - writes[0] >= 0.95, "Retry-After: 1 was not honoured"
    assert writes[2] - writes[1] >= 0.45, "Retry-After: 0.5 was not honoured"
    assert time.monotonic() - started < 10


async def test_busy_beyond_the_retries_fails_the_events_for_now_not_for_good(
    db: Any, sink_run: Any
) -> None:
    proxy = FaultProxy(db.server.url, [(503, {})] * 3)
    await proxy.start()
    try:
        run = sink_run(
            db.connection_config(url=proxy.url, reconnect_delay=0.01, reconnect_delay_max=0.02),
            {"measurement": "later", "write_retries": 1},
            sink_retries=-1,
        )
        run.feed([{"v": 1, "time": 1}])
        await run.run()
    finally:
        await proxy.stop()
    # two answers used up the sink's own retry; the pipeline wrote it again: done, not dead
    assert run.statuses() == {BatchRecord.ACKNOWLEDGED} and not run.dead_letters()
    assert len(db.points("later")) == 1


async def test_sigkill_of_pump_run_mid_stream_and_a_restart_write_every_point(
    db: Any, tmp_path: Path
) -> None:
    total = 60_000
    data = tmp_path / "in"
    data.mkdir()
    with (data / "points.jsonl").open("wb") as f:
        for i in range(total):
            f.write(orjson.dumps({"host": f"h{i % 5}", "n": i, "t": 1_600_000_000_000 + i}) + b"\n")
    env = {
        "INFLUX_URL": db.server.url,
        "INFLUX_DATABASE": db.name,
        "WORKER_INPUT": str(data / "*.jsonl"),
        "WORKER_POSITIONS": str(tmp_path / "positions"),
        "PYTHONUNBUFFERED": "1",
    }

    def count() -> int:
        return db.server.count(db.name, "killed", "n")

    with PumpRun(HERE / "influx_worker.yaml", env) as first:
        deadline = time.monotonic() + 60
        while count() < 5000:
            assert first.alive(), first.output()
            assert time.monotonic() < deadline, "the first worker wrote nothing"
            await asyncio.sleep(0.02)
        first.kill()
    killed_at = count()
    assert killed_at < total, "killed mid-stream"
    with PumpRun(HERE / "influx_worker.yaml", env) as second:
        deadline = time.monotonic() + 90
        while count() < total:
            assert second.alive(), second.output()
            assert time.monotonic() < deadline, f"only {count()} of {total} points arrived"
            await asyncio.sleep(0.1)
    # a point is its series and time: written twice it is still one point
    assert count() == total
    points = db.server.series(db.name, 'SELECT SUM("n") FROM "killed"')
    assert points[0]["values"][0][1] == sum(range(total))
