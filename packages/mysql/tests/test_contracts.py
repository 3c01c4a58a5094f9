"""pump.testing's contract suites (docs/architecture.md §3): MySQLSink, MySQLSource, MySQLLookup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

import pump
from pump.testing import LookupContract, SinkContract, SourceContract
from pump_mysql import MySQLConnection, MySQLLookup, MySQLSink, MySQLSource

pytestmark = pytest.mark.service

CONTRACT_COLUMNS = "id INT PRIMARY KEY, run VARCHAR(20), text VARCHAR(40)"


class TestMySQLSinkContract(SinkContract):
    bad_configs = [
        {"mode": "merge"},
        {"update_columns": ["x"]},
        {"statement": "INSERT", "table": "t"},
    ]

    @pytest.fixture(autouse=True)
    def _use_database(self, db: Any) -> None:
        self.db = db

    async def prepare(self) -> None:
        self.table = await self.db.table(CONTRACT_COLUMNS)
        # every row breaks this constraint: the failing destination
        self.refusing = await self.db.table(f"{CONTRACT_COLUMNS}, CHECK (id < 0)")

    def make_sink(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> MySQLSink:
        self.db.add_connection(app)
        return MySQLSink(app, pipeline, "db", config={"table": self.table, **(config or {})})

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> MySQLSink:
        return self.make_sink(app, pipeline, {"table": self.refusing})

    async def read_back(self) -> list[Any]:
        return await self.db.rows(f"SELECT * FROM `{self.table}`")


class TestMySQLSourceContract(SourceContract):
    """Incremental by an AUTO_INCREMENT column: done rows are not read again after a restart."""

    supports_redelivery = True
    expected_context_keys = ("mysql_table", "mysql_position")
    bad_configs = [{"batch_size": 0}, {"position_file": ""}, {"timestamp_delay": -1}]

    @pytest.fixture(autouse=True)
    def _use_database(self, db: Any, tmp_path: Any) -> None:
        self.db = db
        self.position_file = str(tmp_path / "contract.pos")

    async def prepare(self) -> None:
        self.table = await self.db.table(
            "seq INT AUTO_INCREMENT PRIMARY KEY, id INT, run VARCHAR(20), text VARCHAR(40)"
        )

    def make_source(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> MySQLSource:
        self.db.add_connection(app)
        source = MySQLSource(
            app,
            pipeline,
            "db",
            config={
                "table": self.table,
                "incrementing_column": "seq",
                "position_file": self.position_file,
                "batch_size": 3,
                **(config or {}),
            },
        )
        source.on(pump.PeriodicTrigger(app, 0.05))
        return source

    async def produce(self, events: list[Any]) -> None:
        for event in events:
            await self.db.execute(
                f"INSERT INTO `{self.table}` (id, run, text) VALUES (%s, %s, %s)",
                [event["id"], event["run"], event["text"]],
            )

    def decode(self, event: Any) -> Any:
        return {k: v for k, v in event.items() if k != "seq"}


class TestMySQLLookupContract(LookupContract):
    expected = {1: {"id": 1, "name": "one"}, 2: {"id": 2, "name": "two"}}
    missing_key = 404

    @pytest.fixture(autouse=True)
    async def _use_database(self, db: Any) -> AsyncIterator[None]:
        self.db = db
        self.connections: list[MySQLConnection] = []
        yield
        for connection in self.connections:
            await connection.stop()

    async def prepare(self) -> None:
        self.table = await self.db.table("id INT PRIMARY KEY, name VARCHAR(20)")
        await self.db.execute(f"INSERT INTO `{self.table}` VALUES (1, 'one'), (2, 'two')")

    async def make_lookup(self, app: pump.Application) -> MySQLLookup:
        # the contract starts the lookup alone; the application would start its connection first
        connection = self.db.add_connection(app)
        await connection.start()
        self.connections.append(connection)
        return MySQLLookup(app, "db", "names", config={"table": self.table, "key_column": "id"})

    async def change(self) -> dict[Any, Any]:
        await self.db.execute(f"DELETE FROM `{self.table}` WHERE id = 2")
        await self.db.execute(f"INSERT INTO `{self.table}` VALUES (3, 'three')")
        await self.db.execute(f"UPDATE `{self.table}` SET name = 'uno' WHERE id = 1")
        return {1: {"id": 1, "name": "uno"}, 3: {"id": 3, "name": "three"}}

    async def break_provider(self) -> None:
        # the table is gone: the next reload's query fails, and the cached rows must stay
        await self.db.execute(f"DROP TABLE `{self.table}`")
