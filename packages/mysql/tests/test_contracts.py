"""pump.testing's contract suites (docs/architecture.md §3) for MySQLSink."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import pump
from pump.testing import SinkContract
from pump_mysql import MySQLSink

pytestmark = pytest.mark.service

CONTRACT_COLUMNS = "id INT PRIMARY KEY, run VARCHAR(20), text VARCHAR(40)"


class TestMySQLSinkContract(SinkContract):
    bad_configs = [{"mode": "merge"}, {"update_columns": ["x"]}, {"statement": "INSERT", "table": "t"}]

    @pytest.fixture(autouse=True)
    def _use_database(self, db: Any) -> None:
        self.db = db

    async def prepare(self) -> None:
        self.table = await self.db.table(CONTRACT_COLUMNS)
        # every row breaks this constraint: the failing destination
        self.refusing = await self.db.table(f"{CONTRACT_COLUMNS}, CHECK (id < 0)")

    def make_sink(self, app: pump.Application, pipeline: pump.Pipeline, config: Mapping[str, Any] | None = None) -> MySQLSink:
        self.db.add_connection(app)
        return MySQLSink(app, pipeline, "db", config={"table": self.table, **(config or {})})

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> MySQLSink:
        return self.make_sink(app, pipeline, {"table": self.refusing})

    async def read_back(self) -> list[Any]:
        return await self.db.rows(f"SELECT * FROM `{self.table}`")
