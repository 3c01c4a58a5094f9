"""pump-file: file sources, sinks and lookups for Pump, with saved positions and no lost lines.

Sources: FileLineSource, FileMultiLineSource, FileCSVSource, FileJSONSource,
FileJSONLinesSource, FileBlockSource. Sinks: FileCSVSink, FileJSONLinesSink, FileBlockSink.
Lookups: FileJSONLookup, FileCSVLookup (backed by FileLookupProvider).
"""

from __future__ import annotations

from pump_file.block_sink import FileBlockSink
from pump_file.block_source import FileBlockSource
from pump_file.csv_sink import FileCSVSink
from pump_file.csv_source import FileCSVSource
from pump_file.json_source import FileJSONSource
from pump_file.jsonl_sink import FileJSONLinesSink
from pump_file.jsonl_source import FileJSONLinesSource
from pump_file.line_source import FileLineSource
from pump_file.lookup import FileCSVLookup, FileJSONLookup, FileLookup, FileLookupProvider
from pump_file.multiline_source import FileMultiLineSource
from pump_file.sink import FileSink
from pump_file.source import FileSource

__version__ = "0.1.0"

__all__ = [
    "FileBlockSink",
    "FileBlockSource",
    "FileCSVLookup",
    "FileCSVSink",
    "FileCSVSource",
    "FileJSONLinesSink",
    "FileJSONLinesSource",
    "FileJSONLookup",
    "FileJSONSource",
    "FileLineSource",
    "FileLookup",
    "FileLookupProvider",
    "FileMultiLineSource",
    "FileSink",
    "FileSource",
]
