"""The socket components built from YAML: a TCP line collector forwarding to a UDP pipeline."""

from __future__ import annotations

import pump
from pump.declarative import build
from pump.testing import wait_until

from .conftest import free_port, run, tool


async def test_tcp_lines_forwarded_over_udp_arrive_in_the_second_pipeline():
    udp_port = free_port(2)
    app = build(
        {
            "pipelines": {
                "collect": {
                    "source": {"type": "socket.tcp", "port": 0, "max_connections": 4},
                    "processors": [{"type": "json.parse"}, {"type": "json.serialize"}],
                    "sink": {"type": "socket.udp", "port": udp_port},
                    "on_error": "skip",
                },
                "receive": {
                    "source": {"type": "socket.udp", "port": udp_port, "encoding": "utf-8"},
                    "processors": [{"type": "json.parse"}],
                    "sink": {"type": "list", "id": "got"},
                },
            }
        },
        exit_when_finished=False,
    )
    await app.start()
    try:
        source = app.Pipelines["collect"].Sources[0]
        host, port = source.address
        lines = b'{"n": 1}\nnot json\n{"n": 2}\n'
        await run([tool("nc"), "-N", host, str(port)], lines)
        got = app.Pipelines["receive"].sink
        assert await wait_until(lambda: len(got.events) == 2, 10)
        assert sorted(e["n"] for e in got.events) == [1, 2]
        assert app.Pipelines["collect"].counters.errors == 1  # "not json", skipped
    finally:
        await app.stop(timeout=5)


def test_bad_socket_settings_are_listed_with_their_keys():
    try:
        build(
            {
                "pipelines": {
                    "p": {
                        "source": {"type": "socket.tcp", "port": 99_999, "framing": "xml"},
                        "sink": {"type": "socket.unix"},
                    }
                }
            }
        )
    except pump.ConfigError as exc:
        text = str(exc)
    else:
        raise AssertionError("accepted")
    for key in ("port", "framing", "path"):
        assert f"key '{key}'" in text, text
