"""FileJSONSource: each file is one JSON document (or, split, one event per array element)."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import Field

from pump_file.claims import FileClaim
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading


class FileTooLarge(ValueError):
    """A whole-file source met a file over its `max_size`."""


class FileJSONSourceConfig(FileSourceConfig):
    """Settings of the JSON document source."""

    split_arrays: bool = Field(
        False, description="A document that is a JSON array gives one event per element"
    )
    max_size: int = Field(
        256 << 20, ge=0, description="Largest file read, bytes (0: no limit); larger ones fail"
    )


def read_whole(opener: Opener, max_size: int) -> bytes:
    """The whole (decompressed) content, refusing more than `max_size` bytes (0: no limit)."""
    with opener(0) as stream:
        if not max_size:
            return stream.read()
        data = stream.read(max_size + 1)
    if len(data) > max_size:
        raise FileTooLarge(f"the file is larger than max_size ({max_size} bytes)")
    return data


class JSONDocumentReading(Reading):
    """Reads and parses the whole file at the first batch (in the worker thread)."""

    def __init__(
        self, path: str, opener: Opener, offset: int, config: FileJSONSourceConfig
    ) -> None:
        self.path = path
        self.opener = opener
        self.config = config
        self.next = offset  # items (or the one document) already done
        self.items: list[Any] | None = None
        self.split = False

    def _parse(self) -> list[Any]:
        data = read_whole(self.opener, self.config.max_size)
        encoding = self.config.encoding or "utf-8"
        if codecs.lookup(encoding).name != "utf-8":
            document = orjson.loads(data.decode(encoding, self.config.encoding_errors))
        else:
            document = orjson.loads(data)
        if self.config.split_arrays and isinstance(document, list):
            self.split = True
            return document
        return [document]

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        if self.items is None:
            self.items = self._parse()
        start = self.next
        if start >= len(self.items):
            return None
        events = self.items[start : start + limit]
        self.next = start + len(events)
        contexts: Sequence[dict[str, Any]]
        if self.split:
            contexts = self.contexts(range(start, self.next), "file_item")
        else:
            contexts = [{"file_path": self.path}]
        return Chunk(events, contexts, self.next, self.next)


class FileJSONSource(FileSource):
    """Reads JSON files: each file is one event, the parsed document.

    With `split_arrays`, a document that is an array gives one event per element, and its
    position is the number of elements done. The file is read and parsed in a worker thread,
    so a large document does not stall the event loop (it is held in memory whole; see
    `max_size`). Contexts carry `file_path` (and `file_item`, the element's index, when split).
    """

    ConfigModel = FileJSONSourceConfig
    Config: FileJSONSourceConfig
    can_follow = False
    needs_ascii_compatible = False

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        return JSONDocumentReading(claim.path, opener, offset, self.Config)
