"""File-backed lookups: a JSON, JSON Lines or CSV file as a key→value table, reloaded on change.

`FileLookupProvider` reads the file (in a worker thread); `FileJSONLookup` and `FileCSVLookup`
are DictionaryLookups that poll the file's identity, size and modification time every
`poll_interval` seconds and reload when any of them changed — no inotify needed, so it works
on every filesystem, including network ones. A file that cannot be parsed (half written) keeps
the previous content, and is tried again at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import orjson
from pydantic import Field, field_validator

from pump.common.encoding import ErrorHandler, TextEncoding
from pump.config import ComponentConfig
from pump.lookup import DictionaryLookup, LookupConfig, LookupLoadError, LookupProvider
from pump_file.compression import compression_of, open_binary
from pump_file.dialect import CSVDialectConfig, csv_options

if TYPE_CHECKING:
    from pump.application import Application

L = logging.getLogger(__name__)

Signature = tuple[int, int, int, int]


class FileTableConfig(ComponentConfig):
    """Which file, and how its records become keys and values."""

    path: str = Field("", description="The file (.gz, .bz2, .xz are decompressed)")
    key: str = Field(
        "",
        description="Field whose value is the key (JSON arrays and JSON Lines: required; CSV: "
        "default the first column; a JSON object is used as the table itself)",
    )
    value: str = Field("", description="Field used as the value ('': the whole record)")
    encoding: TextEncoding = Field("utf-8", description="Text encoding")
    encoding_errors: ErrorHandler = Field(
        "strict", description="Undecodable bytes: strict, replace, ..."
    )

    @field_validator("path")
    @classmethod
    def _some_path(cls, value: str) -> str:
        if not value:
            raise ValueError("give the file to load")
        return value


class FileLookupProviderConfig(FileTableConfig, CSVDialectConfig):
    """Settings of the file lookup provider."""

    format: Literal["json", "jsonl", "csv"] = Field("json", description="json, jsonl or csv")


class FileLookupProvider(LookupProvider):
    """Loads a whole JSON / JSON Lines / CSV file as a mapping."""

    ConfigModel = FileLookupProviderConfig
    Config: FileLookupProviderConfig

    async def load(self) -> Mapping[Any, Any]:
        """The file's content as a new dict (read and parsed in a worker thread)."""
        return await asyncio.to_thread(self.read)

    def signature(self) -> Signature | None:
        """Identity, size and modification time of the file (None if it is missing)."""
        try:
            st = os.stat(self.Config.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)

    def read(self) -> dict[Any, Any]:
        """Read and parse the file now."""
        c = self.Config
        with open_binary(c.path, compression_of(c.path, "auto")) as stream:
            data = stream.read()
        if c.format == "json":
            return self._from_json(orjson.loads(data.decode(c.encoding, c.encoding_errors)))
        text = data.decode(c.encoding, c.encoding_errors)
        if c.format == "jsonl":
            return self._from_records(
                (orjson.loads(line) for line in text.splitlines() if line.strip()), c.key
            )
        reader = csv.reader(io.StringIO(text, newline=""), **csv_options(c))
        names = next((row for row in reader if row), None)
        if names is None:
            return {}
        key = c.key or names[0]
        if key not in names:
            raise KeyError(f"the CSV header has no column '{key}' (columns: {', '.join(names)})")
        return self._from_records(
            (dict(zip(names, row, strict=False)) for row in reader if row), key
        )

    def _from_json(self, document: Any) -> dict[Any, Any]:
        c = self.Config
        if isinstance(document, dict) and not c.key:
            if not c.value:
                return document
            return {k: _field(v, c.value) for k, v in document.items()}
        if isinstance(document, list):
            return self._from_records(document, c.key)
        raise ValueError(
            "a JSON lookup file is an object (the table) or an array of objects with 'key' set"
        )

    def _from_records(self, records: Any, key: str) -> dict[Any, Any]:
        value = self.Config.value
        table: dict[Any, Any] = {}
        for record in records:
            if not key:
                raise ValueError("set 'key': the field of each record that is its key")
            table[_field(record, key)] = _field(record, value) if value else record
        return table


def _field(record: Any, name: str) -> Any:
    try:
        return record[name]
    except (KeyError, TypeError, IndexError):
        raise KeyError(f"a record has no field '{name}': {str(record)[:200]}") from None


class FileLookupConfig(LookupConfig, FileTableConfig):
    """Settings of the file lookups."""

    poll_interval: float = Field(
        1.0, ge=0, description="Seconds between checks of the file for changes (0: never)"
    )


class FileLookup(DictionaryLookup):
    """A DictionaryLookup loaded from a file and reloaded whenever the file changes."""

    ConfigModel = FileLookupConfig
    Config: FileLookupConfig
    #: The provider's format for this lookup class.
    file_format: ClassVar[str] = "json"

    def __init__(
        self,
        app: Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, id, config)
        provider_keys = set(FileLookupProviderConfig.model_fields) & set(
            type(self.Config).model_fields
        )
        provider_config = {k: getattr(self.Config, k) for k in provider_keys}
        self.Provider = FileLookupProvider(
            app, id=self.Id, config={**provider_config, "format": self.provider_format()}
        )
        self._signature: Signature | None = None
        self._poller: asyncio.Task[None] | None = None

    def provider_format(self) -> str:
        """The format the provider parses."""
        return self.file_format

    async def start(self) -> None:
        """Load the file, then watch it."""
        provider = self.Provider
        assert isinstance(provider, FileLookupProvider)
        self._signature = provider.signature()
        await super().start()
        if self.Config.poll_interval > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop watching the file."""
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await super().stop()

    async def _poll(self) -> None:
        provider = self.Provider
        assert isinstance(provider, FileLookupProvider)
        while True:
            await asyncio.sleep(self.Config.poll_interval)
            signature = await asyncio.to_thread(provider.signature)
            if signature == self._signature or signature is None:
                continue  # unchanged, or gone (keep what we have until it is back)
            # Taken before the load: a change during the load is seen at the next poll. A file
            # that fails to load is tried again once it changes again (no error every poll).
            self._signature = signature
            try:
                await self.reload()
            except LookupLoadError:
                pass  # logged; the previous content is kept
            except Exception:
                L.exception("%s: reloading failed", self.location())


class FileJSONLookupConfig(FileLookupConfig):
    """Settings of a FileJSONLookup."""

    lines: bool = Field(False, description="The file is JSON Lines (one record per line)")


class FileJSONLookup(FileLookup):
    """A lookup from a JSON file (an object, or an array of records with `key`) or JSON Lines.

    With `lines: true` the file is JSON Lines: one record per line, keyed by `key`.
    """

    ConfigModel = FileJSONLookupConfig
    Config: FileJSONLookupConfig

    def provider_format(self) -> str:
        return "jsonl" if self.Config.lines else "json"


class FileCSVLookupConfig(FileLookupConfig, CSVDialectConfig):
    """Settings of the CSV lookup: the file, key/value columns, the dialect."""


class FileCSVLookup(FileLookup):
    """A lookup from a CSV file with a header: keyed by the `key` column (default the first)."""

    ConfigModel = FileCSVLookupConfig
    Config: FileCSVLookupConfig
    file_format = "csv"
