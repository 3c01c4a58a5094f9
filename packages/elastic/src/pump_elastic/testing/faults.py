"""Faults the test server injects: refused requests, refused bulk items, resets, delays."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: Error type and reason a cluster gives with each injected status (the bulk and search docs).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("document_parsing_exception", "[1:2] failed to parse (injected mapping error)"),
    409: ("version_conflict_engine_exception", "version conflict (injected)"),
    429: (
        "es_rejected_execution_exception",
        "rejected execution of coordinating operation (injected: the write queue is full)",
    ),
    500: ("internal_server_error", "injected internal error"),
    502: ("bad_gateway", "injected bad gateway"),
    503: ("unavailable_shards_exception", "primary shard is not active (injected)"),
    504: ("gateway_timeout", "injected gateway timeout"),
}


@dataclass
class _Rule:
    kind: str  # "request", "item", "reset", "delay"
    count: int | None  # None: until cleared
    status: int = 503
    path: str = ""
    op: str = ""
    seconds: float = 0.0
    apply_first: bool = True
    hits: int = field(default=0)


class Faults:
    """The fault rules of one server; each rule fires `count` times (None: until `clear()`)."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.fired: dict[str, int] = {"request": 0, "item": 0, "reset": 0, "delay": 0}

    def fail_requests(self, status: int = 503, count: int | None = 1, path: str = "") -> None:
        """Answer the next `count` requests whose path contains `path` with `status`."""
        self._add(_Rule("request", count, status=status, path=path))

    def fail_items(self, status: int = 429, count: int | None = 1, op: str = "") -> None:
        """Refuse the next `count` bulk items (of operation `op`, '' any) with `status`."""
        self._add(_Rule("item", count, status=status, op=op))

    def reset_bulks(self, count: int | None = 1, apply_first: bool = True) -> None:
        """Reset the connection of the next `count` bulk requests instead of answering.

        With `apply_first` the bulk is carried out before the reset, as when a node wrote the
        documents and the answer was lost: the client cannot know that they were written.
        """
        self._add(_Rule("reset", count, path="_bulk", apply_first=apply_first))

    def delay(self, seconds: float, count: int | None = None, path: str = "") -> None:
        """Answer requests whose path contains `path` only after `seconds`."""
        self._add(_Rule("delay", count, seconds=seconds, path=path))

    def clear(self) -> None:
        """Remove every rule and zero the `fired` counts."""
        with self._lock:
            self._rules.clear()
            self.fired = dict.fromkeys(self.fired, 0)

    def configure(self, spec: dict[str, Any]) -> None:
        """Add a rule from its JSON form (the server's `/_pump_testing/faults` endpoint)."""
        kind = spec.get("kind")
        args = {k: v for k, v in spec.items() if k != "kind"}
        if kind == "request":
            self.fail_requests(**args)
        elif kind == "item":
            self.fail_items(**args)
        elif kind == "reset":
            self.reset_bulks(**args)
        elif kind == "delay":
            self.delay(**args)
        elif kind == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault kind {kind!r} (request, item, reset, delay, clear)")

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, kind: str, path: str = "", op: str = "") -> _Rule | None:
        """The first rule of `kind` matching, counted as fired once; None when none matches."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind or rule.path not in path or (rule.op and rule.op != op):
                    continue
                rule.hits += 1
                if rule.count is not None and rule.hits >= rule.count:
                    self._rules.remove(rule)
                self.fired[kind] += 1
                return rule
        return None
