"""TCPServerSource and UnixServerSource against real clients: nc, socat, and asyncio peers."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

import pump
from pump.socket import SocketError, TCPServerSource, UnixServerSource, frame
from pump.testing import CollectingSink, wait_until

from .conftest import run, tool


async def test_lines_from_nc_and_socat_arrive_with_their_peer(rig_factory):
    rig = await rig_factory(TCPServerSource, {"port": 0, "encoding": "utf-8"})
    host, port = rig.source.address
    await run([tool("nc"), "-N", host, str(port)], b"first\nsecond\r\nlast without newline")
    await run([tool("socat"), "-u", "-", f"TCP:{host}:{port}"], b"from socat\n")
    assert await rig.wait_for(4)
    assert sorted(rig.events) == ["first", "from socat", "last without newline", "second"]
    contexts = rig.sink.contexts
    assert {c["socket_connection"] for c in contexts} == {1, 2}
    assert all(c["socket_peer"].startswith("127.0.0.1:") for c in contexts)
    assert rig.metric("accepted") == 2
    assert await wait_until(lambda: rig.metric("connections") == 0, 5)


async def test_length_prefixed_frames_and_bad_frames_go_to_the_error_policy(rig_factory):
    rig = await rig_factory(
        TCPServerSource, {"port": 0, "framing": "length_prefixed", "max_frame_size": 100}
    )
    host, port = rig.source.address
    payloads = [b"", b"binary\n\x00\xff", b"x" * 100]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"".join(frame(p, "length_prefixed") for p in payloads))
    writer.write((5000).to_bytes(4, "big") + b"garbage that is never read")
    await writer.drain()
    assert await reader.read() == b""  # the source closed the connection: out of step
    writer.close()
    assert await rig.wait_for(3)
    assert rig.events == payloads
    assert await wait_until(lambda: rig.pipeline.counters.errors == 1, 5)
    assert "length prefix of 5000 bytes" in str(rig.pipeline.errors[-1].error)


async def test_a_line_too_long_and_bad_text_go_to_the_error_policy_and_reading_goes_on(rig_factory):
    rig = await rig_factory(TCPServerSource, {"port": 0, "max_frame_size": 10, "encoding": "utf-8"})
    host, port = rig.source.address
    data = b"ok\n" + b"L" * 5000 + b"\n\xff\xfe\nafter\n"
    await run([tool("nc"), "-N", host, str(port)], data)
    assert await rig.wait_for(2)
    assert await wait_until(lambda: rig.pipeline.counters.errors == 2, 5)
    assert rig.events == ["ok", "after"]
    kinds = sorted(type(e.error).__name__ for e in rig.pipeline.errors)
    assert kinds == ["FrameTooLarge", "UnicodeDecodeError"]


async def test_a_thousand_concurrent_clients_are_served_at_most_max_connections_at_once(
    rig_factory,
):
    limit = 50
    rig = await rig_factory(TCPServerSource, {"port": 0, "max_connections": limit, "backlog": 1024})
    host, port = rig.source.address
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rig.metric("connections"))
            await asyncio.sleep(0.001)

    async def client(i: int) -> None:
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"client %d\n" % i)
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.close()
        await writer.wait_closed()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(1000))), 60)
        assert await rig.wait_for(1000, 30)
    finally:
        watcher.cancel()
    assert sorted(rig.events) == sorted(b"client %d" % i for i in range(1000))
    assert rig.metric("accepted") == 1000
    assert 0 < peak <= limit


async def test_an_idle_connection_is_closed(rig_factory):
    rig = await rig_factory(TCPServerSource, {"port": 0, "idle_timeout": 0.3})
    host, port = rig.source.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"hello\n")
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the source
    assert asyncio.get_running_loop().time() - started >= 0.3
    writer.close()
    assert rig.events == [b"hello"]
    assert rig.metric("idle_closed") == 1


async def test_a_full_pipeline_pauses_reading_so_memory_stays_bounded():
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 100})
    source = TCPServerSource(app, pipeline, "in", config={"port": 0, "read_buffer": 65536})
    sink = CollectingSink(app, pipeline, "out")
    sink.block()
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        host, port = source.address
        line = b"y" * 99 + b"\n"
        total = 400_000  # 40 MB: far more than the source and the systems' buffers hold
        _reader, writer = await asyncio.open_connection(host, port)
        writer.write(line * total)
        await asyncio.sleep(1.0)
        # the peer cannot send it all: the source stopped reading, the kernel buffers filled
        assert writer.transport.get_write_buffer_size() > 10_000_000
        held = pipeline.in_flight + sum(len(p.frames) for p in source._peers)
        assert held * len(line) < 65536 + 256 * 1024 + 100 * len(line) + 300_000
        sink.release()
        await writer.drain()
        writer.close()
        assert await wait_until(lambda: len(sink.events) == total, 60)
    finally:
        await app.stop(timeout=5)


async def test_unix_socket_lines_from_socat(tmp_path, rig_factory):
    path = str(tmp_path / "in.sock")
    rig = await rig_factory(UnixServerSource, {"path": path, "mode": "660"})
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    await run([tool("socat"), "-u", "-", f"UNIX-CONNECT:{path}"], b"one\ntwo\n")
    assert await rig.wait_for(2)
    assert rig.events == [b"one", b"two"]
    await rig.app.stop()
    assert not os.path.exists(path)  # the socket file is removed on stop


async def test_a_stale_unix_socket_file_is_replaced_but_a_live_one_is_not(tmp_path, rig_factory):
    path = str(tmp_path / "in.sock")
    first = await rig_factory(UnixServerSource, {"path": path})
    second = UnixServerSource(first.app, first.pipeline, "again", config={"path": path})
    with pytest.raises(SocketError, match=r"cannot listen on .*in\.sock"):
        await second.start()
    first.source._listener.close()  # as a process that ended would leave it: file, no listener
    first.source._listener = None
    assert os.path.exists(path)
    await second.start()
    await second.stop()


def tls_files(folder) -> tuple[str, str]:
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_lines_from_socat_and_a_plain_client_refused(tmp_path, rig_factory):
    cert, key = tls_files(tmp_path)
    rig = await rig_factory(
        TCPServerSource,
        {"port": 0, "tls_cert_file": cert, "tls_key_file": key, "tls_handshake_timeout": 2},
    )
    host, port = rig.source.address
    await run(
        [tool("socat"), "-u", "-", f"OPENSSL:{host}:{port},cafile={cert},commonname=localhost"],
        b"secret line\n",
    )
    assert await rig.wait_for(1)
    assert rig.events == [b"secret line"]
    await run([tool("nc"), "-N", host, str(port)], b"plain text, not a TLS handshake\n")
    assert await wait_until(lambda: rig.metric("handshake_failures") == 1, 5)
    assert rig.events == [b"secret line"]


async def test_a_busy_port_fails_the_start_naming_the_address(rig_factory):
    rig = await rig_factory(TCPServerSource, {"port": 0})
    _, port = rig.source.address
    other = TCPServerSource(rig.app, rig.pipeline, "twice", config={"port": port})
    with pytest.raises(SocketError, match=rf"component 'twice'.*cannot listen on 127.0.0.1:{port}"):
        await other.start()


def test_bspump_address_and_names():
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    source = pump.socket.StreamServerSource(app, pipeline, config={"address": "0.0.0.0 8888"})
    assert isinstance(source, TCPServerSource)
    assert (source.Config.host, source.Config.port) == ("0.0.0.0", 8888)
    with pytest.raises(pump.ConfigError, match="Unix socket path"):
        TCPServerSource(app, pipeline, config={"address": "/tmp/x.sock"})


async def test_a_graceful_stop_finishes_what_was_read_before_it():
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"max_in_flight": 10})
    source = TCPServerSource(app, pipeline, "in", config={"port": 0})
    sink = CollectingSink(app, pipeline, "out")
    sink.delay = 0.02  # slow: most lines still wait in the source when the stop comes
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    host, port = source.address
    await run([tool("nc"), "-N", host, str(port)], b"".join(b"%d\n" % i for i in range(200)))

    def read() -> int:
        waiting = sum(len(p.frames) for p in source._queue)
        return len(sink.events) + pipeline.in_flight + waiting

    assert await wait_until(lambda: read() == 200, 5)
    assert len(sink.events) < 200
    assert await app.stop(timeout=10) == 0
    assert sorted(int(e) for e in sink.events) == list(range(200))
