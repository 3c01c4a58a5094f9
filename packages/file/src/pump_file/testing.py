"""OutputFolderContract: pump.testing's SinkContract for sinks writing files into a folder.

    class TestMySink(OutputFolderContract):
        sink_cls = MySink
        name = "part-{n}.ext"

        def records(self, path):
            return parse(path.read_bytes())

Each test gets its own folder; the sink writes `folder/name`, and fails while a plain file
stands where the folder should be. Needs pytest (like pump.testing's contract suites).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.pipeline import Pipeline
from pump.sink import Sink
from pump.testing.sink_contract import SinkContract


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
