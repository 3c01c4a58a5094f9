"""Where an event came from, as its source wrote it in the context (for error messages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _file(c: Mapping[str, Any]) -> str:
    where = f"file '{c['file_path']}'"
    if "file_line" in c:
        where += f" line {c['file_line']}"
    elif "file_item" in c:
        where += f" item {c['file_item']}"
    return where


def _kafka(c: Mapping[str, Any]) -> str:
    where = f"topic '{c['kafka_topic']}'"
    if "kafka_partition" in c:
        where += f" partition {c['kafka_partition']}"
    if "kafka_offset" in c:
        where += f" offset {c['kafka_offset']}"
    return where


def _amqp(c: Mapping[str, Any]) -> str:
    where = f"queue '{c['amqp_queue']}'"
    if "amqp_delivery_tag" in c:
        where += f" delivery {c['amqp_delivery_tag']}"
    return where


#: The context key a source sets → how to name the origin from the context.
ORIGINS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "file_path": _file,
    "kafka_topic": _kafka,
    "amqp_queue": _amqp,
}


def event_origin(context: Any) -> str:
    """`file 'a.csv' line 7`, `topic 'in' partition 0 offset 42`, ... or "" when not known."""
    if not isinstance(context, Mapping):
        return ""
    for key, describe in ORIGINS.items():
        if key in context:
            try:
                return describe(context)
            except Exception:  # a context that only looks like one: say nothing rather than fail
                return ""
    return ""
