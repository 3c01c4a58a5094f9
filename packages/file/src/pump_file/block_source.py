"""FileBlockSource: each file is one event, its whole content (BSPump's FileBlockSource)."""

from __future__ import annotations

import os

from pydantic import Field

from pump.common.encoding import TextEncodingOrNone
from pump_file.claims import FileClaim
from pump_file.json_source import read_whole
from pump_file.source import Chunk, FileSource, FileSourceConfig, Opener, Reading


class FileBlockSourceConfig(FileSourceConfig):
    """Settings of the block source."""

    encoding: TextEncodingOrNone = Field(
        "", description="Decode the content to str with this encoding ('': bytes)"
    )
    max_size: int = Field(
        256 << 20, ge=0, description="Largest file read, bytes (0: no limit); larger ones fail"
    )


class BlockReading(Reading):
    """The whole content as one event."""

    def __init__(
        self, path: str, opener: Opener, offset: int, config: FileBlockSourceConfig
    ) -> None:
        self.path = path
        self.opener = opener
        self.config = config
        self.done = offset >= 1

    def next_batch(self, limit: int, final: bool) -> Chunk | None:
        if self.done:
            return None
        self.done = True
        data = read_whole(self.opener, self.config.max_size)
        context = {
            "file_path": self.path,
            "file_name": os.path.basename(self.path),
            "file_size": len(data),
        }
        event = (
            data.decode(self.config.encoding, self.config.encoding_errors)
            if self.config.encoding
            else data
        )
        return Chunk([event], [context], 1, 1)


class FileBlockSource(FileSource):
    """Reads each file whole: one event per file, its content as bytes (or str with `encoding`).

    Contexts carry `file_path`, `file_name` and `file_size` (bytes of the decompressed content).
    """

    ConfigModel = FileBlockSourceConfig
    Config: FileBlockSourceConfig
    can_follow = False
    needs_ascii_compatible = False

    def open_reading(self, claim: FileClaim, opener: Opener, offset: int, line: int) -> Reading:
        return BlockReading(claim.path, opener, offset, self.Config)
