"""TCP lines in: socat sends 1,000,000 lines of 100 bytes; pump's TCPServerSource into a
counting sink against a bare asyncio protocol that splits the same stream into lines.

Both sides receive from the same socat command (a separate process reading a file), in the
same process, alternating round by round; a round lasts from starting socat until the last
line was counted. The reference does what the source must at least do: cut the stream into
line objects (`bytes.split`) and count them; pump also hands each read over as a batch,
tracks it to completion and keeps its flow control.

    python bench/tcp.py [--lines N] [--rounds R] [--only bare_protocol|pump]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Clock, add_arguments, interleave, report

import pump
from pump.common import CountingSink
from pump.socket import TCPServerSource

LINE = b"x" * 99 + b"\n"


async def send(port: int, path: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "socat", "-u", f"OPEN:{path}", f"TCP:127.0.0.1:{port}"
    )
    assert await process.wait() == 0


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        await asyncio.sleep(0.001)


async def run_pump(n: int, path: str) -> tuple[int, Clock]:
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "bench")
    source = TCPServerSource(app, pipeline, config={"port": 0})
    sink = CountingSink(app, pipeline)
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    assert source.address is not None
    with Clock() as clock:
        await send(source.address[1], path)
        await until(lambda: sink.count >= n)
    await app.stop()
    assert sink.count == n
    return n, clock


class Bare(asyncio.Protocol):
    def __init__(self) -> None:
        self.count = 0
        self.partial = b""

    def data_received(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n") if self.partial else data.split(b"\n")
        self.partial = lines.pop()
        self.count += len(lines)


async def run_bare(n: int, path: str) -> tuple[int, Clock]:
    protocol = Bare()
    server = await asyncio.get_running_loop().create_server(lambda: protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with Clock() as clock:
        await send(port, path)
        await until(lambda: protocol.count >= n)
    server.close()
    assert protocol.count == n
    return n, clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    add_arguments(parser, ["bare_protocol", "pump"], rounds=5)
    args = parser.parse_args()
    if shutil.which("socat") is None:
        raise SystemExit("bench/tcp.py needs socat (apt-get install -y socat)")
    with tempfile.NamedTemporaryFile(suffix=".lines") as data:
        data.write(LINE * args.lines)
        data.flush()
        n, path = args.lines, data.name
        contestants = {
            "bare_protocol": lambda: asyncio.run(run_bare(n, path)),
            "pump": lambda: asyncio.run(run_pump(n, path)),
        }
        if args.only:
            contestants = {args.only: contestants[args.only]}
        wall, cpu = interleave(contestants, args.rounds)
    report("tcp", wall, "bare_protocol", "pump", cpu=cpu, lines=args.lines, line_bytes=100)


if __name__ == "__main__":
    main()
