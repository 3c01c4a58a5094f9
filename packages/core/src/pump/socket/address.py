"""Socket addresses: BSPump's `address` strings, and peers named for contexts and messages."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from typing import Any


def split_address(address: str) -> tuple[str, int]:
    """BSPump's `"HOST PORT"` (or `"HOST:PORT"`, `"[::1]:PORT"`) as (host, port)."""
    text = address.strip()
    match = re.fullmatch(r"\[?(?P<host>[^\s\]]*)\]?(?:\s+|:)(?P<port>\d+)", text)
    if match is None or (":" in match["host"] and " " not in text and "[" not in text):
        raise ValueError(
            f"address {address!r} is not 'HOST PORT' (or 'HOST:PORT'); give host and port "
            "(a Unix socket path belongs to the socket.unix components' path key)"
        )
    return match["host"], int(match["port"])


def address_to_host_port(data: Any) -> Any:
    """A config mapping with BSPump's `address` key turned into `host` and `port`."""
    if not isinstance(data, Mapping) or "address" not in data:
        return data
    data = dict(data)
    address = data.pop("address")
    for key in ("host", "port"):
        if key in data:
            raise ValueError(f"'address' and '{key}' are the same setting: give host and port")
    data["host"], data["port"] = split_address(str(address))
    return data


def with_bspump_names(data: Any, renamed: Mapping[str, str]) -> Any:
    """A config mapping with BSPump's keys (`renamed`: its name → ours) and its `address`
    (→ `host` and `port`) in this package's terms."""
    if isinstance(data, Mapping) and any(old in data for old in renamed):
        data = dict(data)
        for old, new in renamed.items():
            if old in data:
                data[new] = data.pop(old)
    return address_to_host_port(data)


def peer_name(address: Any) -> str:
    """`127.0.0.1:5000`, `[::1]:5000`, or a Unix socket's path ('' for an unnamed one)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(address, bytes):
        return address.decode(errors="replace")
    return str(address or "")


def resolve(host: str, port: int, kind: socket.SocketKind, passive: bool) -> tuple[Any, ...]:
    """The first (family, type, proto, canonname, sockaddr) of `host`, `port` (blocking)."""
    flags = socket.AI_PASSIVE if passive else 0
    return socket.getaddrinfo(host or None, port, type=kind, flags=flags)[0]
