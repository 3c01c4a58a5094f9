"""The entry points pump-file declares resolve to its classes, through pump's plugin registry."""

from __future__ import annotations

import pytest

from pump.plugins import Registry
from pump_file import (
    FileBlockSink,
    FileBlockSource,
    FileCSVLookup,
    FileCSVSink,
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONLinesSource,
    FileJSONLookup,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
)

DECLARED = [
    ("source", "file.line", FileLineSource),
    ("source", "file.multiline", FileMultiLineSource),
    ("source", "file.csv", FileCSVSource),
    ("source", "file.json", FileJSONSource),
    ("source", "file.jsonl", FileJSONLinesSource),
    ("source", "file.block", FileBlockSource),
    ("sink", "file.csv", FileCSVSink),
    ("sink", "file.jsonl", FileJSONLinesSink),
    ("sink", "file.block", FileBlockSink),
    ("lookup", "file.json", FileJSONLookup),
    ("lookup", "file.csv", FileCSVLookup),
]


@pytest.mark.parametrize(("kind", "name", "cls"), DECLARED)
def test_every_declared_name_loads_its_class(kind, name, cls):
    registry = Registry(allow=None, deny=(), environ={})
    spec = registry.resolve(kind, name)
    assert spec.distribution == "pump-file"
    assert registry.load(kind, name) is cls


def test_nothing_else_is_declared():
    registry = Registry(allow=None, deny=(), environ={})
    found = {
        (row.kind, row.name) for row in registry.inventory(load=False) if row.distribution == "pump-file"
    }
    assert found == {(kind, name) for kind, name, _ in DECLARED}
