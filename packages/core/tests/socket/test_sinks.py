"""TCPClientSink, UnixClientSink and UDPSink against real peers: socat listening into a file."""

from __future__ import annotations

import asyncio
import os

import pump
from pump.socket import TCPClientSink, UDPSink, UnixClientSink
from pump.testing import CollectingSink, HarnessSource, wait_until

from .conftest import Listener, QueueSource, free_port, wait_listening
from .test_tcp_source import tls_files


async def run_sink(sink_class, config, events, *, until, **pipeline_config):
    """Events → the sink; returns (pipeline, sink, dead letters) once `until()` holds."""
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(
        app, "p", config={"on_error": "dead_letter", "retry_backoff": 0.05, **pipeline_config}
    )
    source = HarnessSource(app, pipeline, "in", batch_size=10)
    sink = sink_class(app, pipeline, "out", config=config)
    dead = CollectingSink(app, pipeline, "dead")
    pipeline.build(source, sink)
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    source.feed([(None, e) for e in events])
    await app.start()
    try:
        assert await wait_until(lambda: until(dead), 15), (
            "the peer did not receive everything in time"
        )
        assert await wait_until(lambda: pipeline.in_flight == 0, 5)
    finally:
        await app.stop(timeout=5)
    return pipeline, sink, dead


async def test_lines_reach_socat_and_bad_events_are_dead_lettered(tmp_path):
    port = free_port()
    peer = Listener(f"TCP-LISTEN:{port},bind=127.0.0.1", str(tmp_path / "got"))
    await peer.start()
    try:
        await wait_listening(port)
        events = [
            "text é",
            b"bytes",
            {"not": "serialized"},
            "two\nlines",
            *[f"n{i}" for i in range(30)],
        ]
        _pipeline, sink, dead = await run_sink(
            TCPClientSink, {"port": port}, events, until=lambda _: len(peer.lines()) >= 32
        )
    finally:
        await peer.stop()
    assert peer.lines() == ["text é".encode(), b"bytes", *[b"n%d" % i for i in range(30)]]
    reasons = [d["error"] for d in dead.events]
    assert len(reasons) == 2
    assert "must be bytes or str, not dict" in reasons[0]
    assert "contains a newline" in reasons[1]
    assert sink.bytes_sent == sum(len(x) + 1 for x in peer.lines())


async def test_length_prefixed_frames_reach_the_peer(tmp_path):
    port = free_port()
    peer = Listener(f"TCP-LISTEN:{port},bind=127.0.0.1", str(tmp_path / "got"))
    await peer.start()
    try:
        await wait_listening(port)
        events = [b"a\nb", b"", b"\x00" * 300]
        expected = b"".join(len(e).to_bytes(2, "big") + e for e in events)
        await run_sink(
            TCPClientSink,
            {"port": port, "framing": "length_prefixed", "length_bytes": 2},
            events,
            until=lambda _: (
                os.path.exists(peer.path) and os.path.getsize(peer.path) >= len(expected)
            ),
        )
    finally:
        await peer.stop()
    with open(peer.path, "rb") as f:
        assert f.read() == expected


async def test_the_sink_reconnects_when_the_peer_comes_back(tmp_path):
    port = free_port()
    peer = Listener(f"TCP-LISTEN:{port},bind=127.0.0.1", str(tmp_path / "got"))
    app = pump.Application(args=[], exit_when_finished=False)
    pipeline = pump.Pipeline(app, "p", config={"retry_backoff": 0.05, "retry_backoff_max": 0.2})
    source = QueueSource(app, pipeline, "in")
    sink = TCPClientSink(app, pipeline, "out", config={"port": port})
    pipeline.build(source, sink)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        await peer.start()
        await wait_listening(port)
        source.batches.put_nowait([b"before %d" % i for i in range(5)])
        assert await wait_until(lambda: len(peer.lines()) == 5, 10)
        await peer.stop()
        # the sink notices the loss when the connection closes; what it wrote before that
        # went into a socket nobody reads (the README says so): only what comes after counts
        assert await wait_until(lambda: sink.connected == 0, 10)
        source.batches.put_nowait([b"later %d" % i for i in range(5)])
        await asyncio.sleep(0.5)  # refused, retried with backoff while the peer is away
        assert not set(peer.lines()) & {b"later %d" % i for i in range(5)}
        await peer.start()
        await wait_listening(port)
        expected = {b"later %d" % i for i in range(5)}
        assert await wait_until(lambda: expected <= set(peer.lines()), 15)
        assert await wait_until(lambda: pipeline.in_flight == 0, 5)
        assert sink.reconnects >= 1 and sink.connected == 1
    finally:
        await app.stop(timeout=5)
        await peer.stop()
    assert not pipeline.is_error()
    assert peer.lines().count(b"later 0") == 1


async def test_tls_to_a_socat_tls_listener(tmp_path):
    cert, key = tls_files(tmp_path)
    port = free_port()
    peer = Listener(
        f"OPENSSL-LISTEN:{port},bind=127.0.0.1,cert={cert},key={key},verify=0",
        str(tmp_path / "got"),
    )
    await peer.start()
    try:
        await wait_listening(port)
        await run_sink(
            TCPClientSink,
            {"port": port, "host": "localhost", "tls": True, "tls_ca_file": cert},
            [b"over tls"],
            until=lambda _: peer.lines() == [b"over tls"],
        )
    finally:
        await peer.stop()


async def test_unix_socket_lines_reach_socat(tmp_path):
    path = str(tmp_path / "peer.sock")
    peer = Listener(f"UNIX-LISTEN:{path}", str(tmp_path / "got"))
    await peer.start()
    try:
        assert await wait_until(lambda: os.path.exists(path), 5)
        await run_sink(
            UnixClientSink, {"path": path}, ["a", "b"], until=lambda _: len(peer.lines()) == 2
        )
    finally:
        await peer.stop()
    assert peer.lines() == [b"a", b"b"]


async def test_a_peer_that_is_not_there_is_retried_then_handled_by_the_policy():
    _pipeline, sink, dead = await run_sink(
        TCPClientSink,
        {"port": free_port(), "connect_timeout": 1},
        [b"nobody listens"],
        until=lambda dead: len(dead.events) == 1,
        sink_retries=2,
    )
    assert len(dead.events) == 1
    assert "cannot connect to 127.0.0.1:" in dead.events[0]["error"]
    assert sink.connected == 0 and sink.bytes_sent == 0


async def test_udp_sink_datagrams_reach_socat(tmp_path):
    port = free_port(2)  # SOCK_DGRAM
    peer = Listener(f"UDP-RECVFROM:{port},bind=127.0.0.1", str(tmp_path / "got"))
    await peer.start()
    await asyncio.sleep(0.3)
    try:
        events = [b"datagram\n", "x" * 70_000]
        _pipeline, _sink, dead = await run_sink(
            UDPSink, {"port": port}, events, until=lambda _: peer.lines() == [b"datagram"]
        )
    finally:
        await peer.stop()
    assert len(dead.events) == 1 and "max_datagram_size" in dead.events[0]["error"]
