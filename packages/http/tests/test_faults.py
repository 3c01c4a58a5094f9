"""A webhook `pump run` killed mid-stream loses nothing: what was not answered 200 is sent
again by the sender, and what was answered 200 is in the file."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

REQUESTS = 150
PER_REQUEST = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_pump(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pump",
        "run",
        str(config),
        "--progress",
        "off",
        cwd=config.parent,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process
        except OSError:
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError(f"pump run did not listen on {port}: {log.read_text()[-2000:]}")


async def send_all(url: str, answered: list[int]) -> None:
    """Post every request until it is answered 200, eight at a time, as webhook senders do."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(REQUESTS):
        queue.put_nowait(n)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = b"".join(
                orjson.dumps({"request": n, "item": i}) + b"\n" for i in range(PER_REQUEST)
            )
            while True:
                try:
                    async with session.post(
                        url, data=body, headers={"Content-Type": "application/x-ndjson"}
                    ) as response:
                        if response.status == 200:
                            answered.append(n)
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.01)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(sender(session) for _ in range(8)))


def test_a_killed_webhook_pump_loses_nothing(tmp_path: Path) -> None:
    pytest.importorskip("pump_file", reason="the pipeline writes with pump-file's file.jsonl")
    port = free_port()
    out = tmp_path / "out"
    config = tmp_path / "hooks.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            pipelines:
              hooks:
                source: {{type: http.server, port: {port}, path: /hooks}}
                sink: {{type: file.jsonl, path: "{out}/hooks-{{pid}}.jsonl"}}
            """
        )
    )
    log = tmp_path / "pump.log"
    answered: list[int] = []

    async def main() -> int:
        first = await start_pump(config, port, log)
        sending = asyncio.create_task(send_all(f"http://127.0.0.1:{port}/hooks", answered))
        while len(answered) < REQUESTS // 3:
            assert not sending.done()
            await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed_at = len(answered)
        second = await start_pump(config, port, log)
        await asyncio.wait_for(sending, 120)
        assert killed_at < REQUESTS
        second.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(second.wait(), 60)

    code = asyncio.run(main())
    assert code == 0, log.read_text()[-3000:]
    assert sorted(answered) == list(range(REQUESTS))
    written = set()
    for path in out.iterdir():
        for line in path.read_bytes().splitlines():
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line the killed process did not finish: never answered 200
            written.add((event["request"], event["item"]))
    expected = {(n, i) for n in range(REQUESTS) for i in range(PER_REQUEST)}
    assert expected <= written, f"{len(expected - written)} events answered 200 are missing"
    assert os.listdir(out)
