"""pump-file's entry points: each loads its class, is configured and described the one way."""

from __future__ import annotations

from pump.testing import PluginContract
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


class TestPlugins(PluginContract):
    distribution = "pump-file"
    declared = {
        ("source", "file.line"): FileLineSource,
        ("source", "file.multiline"): FileMultiLineSource,
        ("source", "file.csv"): FileCSVSource,
        ("source", "file.json"): FileJSONSource,
        ("source", "file.jsonl"): FileJSONLinesSource,
        ("source", "file.block"): FileBlockSource,
        ("sink", "file.csv"): FileCSVSink,
        ("sink", "file.jsonl"): FileJSONLinesSink,
        ("sink", "file.block"): FileBlockSink,
        ("lookup", "file.json"): FileJSONLookup,
        ("lookup", "file.csv"): FileCSVLookup,
    }
