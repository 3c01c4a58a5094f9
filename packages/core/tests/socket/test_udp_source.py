"""UDPSource against real senders: nc -u, socat, and a burst from another process, counted."""

from __future__ import annotations

import asyncio
import sys

import pump
from pump.socket import UDPSource
from pump.testing import CollectingSink, wait_until

from .conftest import run, tool

BURST = """
import socket, sys, time
port, count, size, pause = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    s.sendto((b"datagram %d " % i).ljust(size, b"."), ("127.0.0.1", port))
    if pause:
        time.sleep(pause)
"""


async def test_datagrams_from_nc_and_socat_arrive_with_their_sender(rig_factory):
    rig = await rig_factory(UDPSource, {"port": 0, "encoding": "utf-8"})
    host, port = rig.source.address
    await run([tool("socat"), "-u", "-", f"UDP-SENDTO:{host}:{port}"], b"from socat")
    await run([tool("nc"), "-u", "-w1", host, str(port)], b"from nc")
    assert await rig.wait_for(2)
    assert sorted(rig.events) == ["from nc", "from socat"]
    assert all(c["socket_peer"].startswith("127.0.0.1:") for c in rig.sink.contexts)


async def test_a_burst_is_counted_every_datagram_handed_over_or_counted_as_dropped():
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 1000})
    source = UDPSource(app, pipeline, "in", config={"port": 0, "queue_max_bytes": 65536})
    sink = CollectingSink(app, pipeline, "out")
    sink.delay = 0.001  # slower than the sender: the queue fills
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    sent = 20_000
    try:
        _, port = source.address
        await run([sys.executable, "-c", BURST, str(port), str(sent), "20", "0"], timeout=60)

        def counted() -> int:
            source._count_kernel_drops()
            return len(sink.events) + source.overflowed + source.kernel_dropped

        assert await wait_until(lambda: counted() == sent, 30), (
            len(sink.events),
            source.overflowed,
            source.kernel_dropped,
        )
        await asyncio.sleep(0.2)
        assert counted() == sent
    finally:
        await app.stop(timeout=5)
    received = {bytes(e) for e in sink.events}
    assert len(received) == len(sink.events)  # no datagram twice
    assert pipeline.metrics()["components"]["in"]["overflowed"] == source.overflowed


async def test_a_datagram_above_the_limit_goes_to_the_error_policy(rig_factory):
    rig = await rig_factory(UDPSource, {"port": 0, "max_datagram_size": 10})
    host, port = rig.source.address
    await run([tool("socat"), "-u", "-", f"UDP-SENDTO:{host}:{port}"], b"x" * 50)
    await run([tool("socat"), "-u", "-", f"UDP-SENDTO:{host}:{port}"], b"small")
    assert await rig.wait_for(1)
    assert await wait_until(lambda: rig.pipeline.counters.errors == 1, 5)
    assert rig.events == [b"small"]
    assert "max_datagram_size (10)" in str(rig.pipeline.errors[-1].error)


def test_bspump_keys():
    app = pump.Application(args=[])
    source = pump.socket.DatagramSource(
        app,
        pump.Pipeline(app, "p"),
        config={"address": "127.0.0.1:5140", "max_packet_size": 1500, "receiver_buffer_size": 4096},
    )
    c = source.Config
    assert (c.host, c.port, c.max_datagram_size, c.receive_buffer_size) == (
        "127.0.0.1",
        5140,
        1500,
        4096,
    )
    sink = pump.socket.UDPSink(
        app, pump.Pipeline(app, "q"), config={"address": "127.0.0.1:5141", "max_packet_size": 512}
    )
    assert (sink.Config.port, sink.Config.max_datagram_size) == (5141, 512)


async def test_datagrams_beyond_the_queue_bound_are_dropped_and_counted():
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 10})
    source = UDPSource(app, pipeline, "in", config={"port": 0, "queue_max_bytes": 65536})
    sink = CollectingSink(app, pipeline, "out")
    sink.block()  # nothing is done: the pipeline fills, the source's queue fills
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    sent = 300
    try:
        _, port = source.address
        await run([sys.executable, "-c", BURST, str(port), str(sent), "1000", "0.001"], timeout=60)
        await asyncio.sleep(0.3)
        source._count_kernel_drops()
        queued = len(source._receiver.datagrams)
        assert queued * 1000 <= 65536  # the bound held
        assert pipeline.in_flight + queued + source.overflowed + source.kernel_dropped == sent
        assert source.overflowed >= sent - 10 - 65 - source.kernel_dropped
    finally:
        sink.release()
        await app.stop(timeout=5)
