"""pump.testing's contract suites for sources reading and sinks writing files in a folder.

    class TestMySource(InputFolderContract):
        source_cls = MySource
        extension = "ext"

        def files_for(self, events):
            return [("batch", encode(events))]

    class TestMySink(OutputFolderContract):
        sink_cls = MySink
        name = "part-{n}.ext"

        def records(self, path):
            return parse(path.read_bytes())

Each test gets its own folder. A source reads `folder/*.extension`, where each `produce`
drops new files (written whole, then renamed in); a sink writes `folder/name`, and fails while
a plain file stands where the folder should be. Needs pytest (like pump.testing's suites).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.pipeline import Pipeline
from pump.sink import Sink
from pump.source import Source
from pump.testing.sink_contract import SinkContract
from pump.testing.source_contract import SourceContract


class InputFolderContract(SourceContract):
    """A folder per test; each `produce` drops new files (written whole, then renamed in)."""

    supports_redelivery = True
    source_cls: ClassVar[type[Source]]
    #: The extension of the files the source reads (`folder/*.extension`).
    extension: ClassVar[str]
    #: Settings of the source besides its path.
    extra_config: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "in"
        self.folder.mkdir()
        self.produced = 0

    def files_for(self, events: list[Any]) -> list[tuple[str, bytes]]:
        """(name, content) of the files holding `events`."""
        raise NotImplementedError

    def make_source(
        self, app: Application, pipeline: Pipeline, config: Mapping[str, Any] | None = None
    ) -> Source:
        settings = {"path": str(self.folder / f"*.{self.extension}"), **self.extra_config}
        return self.source_cls(app, pipeline, "src", config={**settings, **(config or {})})

    def produce(self, events: list[Any]) -> None:
        for name, content in self.files_for(events):
            self.produced += 1
            final = self.folder / f"{self.produced:05d}-{name}.{self.extension}"
            temp = self.folder / f".{final.name}.tmp"
            temp.write_bytes(content)
            os.rename(temp, final)


class OutputFolderContract(SinkContract):
    """A folder per test; read_back reads every file there (`records` of each)."""

    sink_cls: ClassVar[type[Sink]]
    #: The file name template, under the test's folder.
    name: ClassVar[str]
    #: Read temporary files too: the sink acknowledges records before it publishes a file.
    read_unfinished: ClassVar[bool] = False

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "out"

    def records(self, path: Path) -> list[Any]:
        """The events one file holds."""
        raise NotImplementedError

    def make_sink(
        self, app: Application, pipeline: Pipeline, config: Mapping[str, Any] | None = None
    ) -> Sink:
        return self.sink_cls(
            app, pipeline, "out", config={"path": str(self.folder / self.name), **(config or {})}
        )

    def make_failing_sink(self, app: Application, pipeline: Pipeline) -> Sink:
        blocker = self.folder.parent / "blocker"
        blocker.write_text("a file where the output folder should be")
        return self.sink_cls(app, pipeline, "out", config={"path": str(blocker / self.name)})

    def interrupt_destination(self) -> None:
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.folder.write_text("the folder is not there: writes fail")

    def restore_destination(self) -> None:
        self.folder.unlink()

    def read_back(self) -> list[Any]:
        if not self.folder.is_dir():
            return []
        out: list[Any] = []
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and (self.read_unfinished or not path.name.startswith(".")):
                out.extend(self.records(path))
        return out
