"""File lookups: JSON, JSON Lines and CSV tables, reloaded when the file changes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest

import pump
from pump.lookup import LookupLoadError
from pump.testing import LookupContract, wait_until
from pump_file import FileCSVLookup, FileJSONLookup


def replace(path: Path, data: bytes) -> None:
    """Write a new version the way tools should: a temporary file renamed over the old one."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


class TestFileJSONLookupContract(LookupContract):
    expected = {"cz": "Czechia", "de": "Germany"}

    @pytest.fixture(autouse=True)
    def _file(self, tmp_path):
        self.path = tmp_path / "countries.json"

    def prepare(self):
        replace(self.path, orjson.dumps(self.expected))

    def make_lookup(self, app):
        return FileJSONLookup(app, "countries", config={"path": str(self.path), "poll_interval": 0})

    def change(self):
        replace(self.path, orjson.dumps({"cz": "Česko", "us": "USA"}))
        return {"cz": "Česko", "us": "USA"}

    def break_provider(self):
        replace(self.path, b"{not json")


class TestFileCSVLookupContract(LookupContract):
    expected = {"1": "one", "2": "two"}

    @pytest.fixture(autouse=True)
    def _file(self, tmp_path):
        self.path = tmp_path / "numbers.csv"

    def prepare(self):
        replace(self.path, b"n;name\n1;one\n2;two\n")

    def make_lookup(self, app):
        return FileCSVLookup(
            app,
            "numbers",
            config={"path": str(self.path), "value": "name", "delimiter": ";", "poll_interval": 0},
        )

    def change(self):
        replace(self.path, b"n;name\n3;three\n")
        return {"3": "three"}

    def break_provider(self):
        self.path.unlink()


async def started(lookup):
    await lookup.start()
    return lookup


async def test_an_array_of_records_keyed_by_a_field(tmp_path):
    path = tmp_path / "users.json"
    path.write_bytes(orjson.dumps([{"id": 7, "name": "Ann"}, {"id": 9, "name": "Bob"}]))
    app = pump.Application()
    whole = await started(
        FileJSONLookup(app, "u", config={"path": str(path), "key": "id", "poll_interval": 0})
    )
    names = await started(
        FileJSONLookup(
            app, "n", config={"path": str(path), "key": "id", "value": "name", "poll_interval": 0}
        )
    )
    assert whole[7] == {"id": 7, "name": "Ann"} and names.get(9) == "Bob"


async def test_json_lines_and_compressed_files(tmp_path):
    path = tmp_path / "users.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a", "v": 1}\n\n{"id": "b", "v": 2}\n'))
    lookup = await started(
        FileJSONLookup(
            pump.Application(),
            "u",
            config={
                "path": str(path),
                "lines": True,
                "key": "id",
                "value": "v",
                "poll_interval": 0,
            },
        )
    )
    assert dict(lookup) == {"a": 1, "b": 2}


async def test_csv_rows_keyed_by_the_first_column_by_default(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("code,name,pop\nCZ,Czechia,10\nDE,Germany,83\n")
    lookup = await started(
        FileCSVLookup(pump.Application(), "t", config={"path": str(path), "poll_interval": 0})
    )
    assert lookup["DE"] == {"code": "DE", "name": "Germany", "pop": "83"}


async def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_content(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"a": 1}')
    app = pump.Application()
    lookup = FileJSONLookup(app, "t", config={"path": str(path), "poll_interval": 0.02})
    await lookup.start()
    changes = []
    lookup.on_change(lambda lk: changes.append(dict(lk)))
    try:
        replace(path, b'{"a": 2}')
        assert await wait_until(lambda: lookup.get("a") == 2, 5)
        path.write_bytes(b'{"a": 3, "half')  # written in place, caught half way
        assert await wait_until(lambda: lookup.load_error is not None, 5)
        failures = lookup.counters.errors
        await wait_until(lambda: False, 0.1)
        assert (
            lookup.get("a") == 2 and lookup.counters.errors == failures
        )  # tried once, not every poll
        path.write_bytes(b'{"a": 3, "b": 4}')  # finished: the next poll sees another change
        assert await wait_until(lambda: lookup.get("a") == 3, 5)
        assert changes == [{"a": 2}, {"a": 3, "b": 4}]
    finally:
        await lookup.stop()


async def test_a_missing_file_fails_the_start(tmp_path):
    lookup = FileJSONLookup(pump.Application(), "t", config={"path": str(tmp_path / "nope.json")})
    with pytest.raises(LookupLoadError, match=r"nope\.json"):
        await lookup.start()


async def test_records_without_the_key_field_are_an_error(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'[{"id": 1}, {"other": 2}]')
    lookup = FileJSONLookup(pump.Application(), "t", config={"path": str(path), "key": "id"})
    with pytest.raises(LookupLoadError, match="no field 'id'"):
        await lookup.start()
