"""The SQL sink: frames and dict events appended to a table (SQLite, and a real MariaDB/MySQL);
rows the database refuses fail alone; the contract suite."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import sqlalchemy as sa

import pump
from pump.errors import ConfigError
from pump.testing import HarnessSource, SinkContract, service_address
from pump_pandas import DataFrameSQLSink

from .conftest import pipeline, run_app

#: The MySQL server of the tests: this variable, else MariaDB on 127.0.0.1:3306.
MYSQL_ENV = "PUMP_MYSQL_URL"
MYSQL_LOCAL = "mysql://root@127.0.0.1:3306/test"


def mysql_url() -> str:
    """A SQLAlchemy URL of the test server (skip, or fail under PUMP_REQUIRE_SERVICES=1)."""
    address = service_address("mysql", MYSQL_ENV, MYSQL_LOCAL)
    return "mysql+pymysql://" + address.split("://", 1)[-1]


@pytest.fixture(params=["sqlite", "mysql"])
def database(request, tmp_path):
    """(URL, engine of the test's own) of each database; the test's tables are dropped after."""
    url = f"sqlite:///{tmp_path / 'out.db'}" if request.param == "sqlite" else mysql_url()
    engine = sa.create_engine(url)
    tables: list[str] = []
    yield url, engine, tables
    with engine.begin() as connection:
        for table in tables:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def new_table(tables: list[str], engine: sa.Engine, columns: str | None = None) -> str:
    name = f"pump_sql_{uuid.uuid4().hex[:12]}"
    tables.append(name)
    if columns:
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE TABLE {name} ({columns})"))
    return name


def rows_of(engine: sa.Engine, table: str) -> list[dict[str, Any]]:
    return pd.read_sql(f"SELECT * FROM {table} ORDER BY id", engine).to_dict("records")


async def test_frames_and_dict_events_are_appended_to_a_new_table(database):
    url, engine, tables = database
    table = new_table(tables, engine)
    events = [
        pd.DataFrame({"id": [1, 2], "name": ["a", "b"], "amount": [1.5, None]}),
        {"id": 3, "name": "c", "amount": 3.0},
        {"id": 4, "name": "d", "amount": 4.5},
        pd.DataFrame({"id": [5], "name": ["e"], "amount": [5.0]}),
    ]

    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=2)
        source.feed([(None, e) for e in events])
        return [source, DataFrameSQLSink(app, p, "out", config={"url": url, "table": table})]

    app, p, _ = pipeline(build)
    assert await run_app(app) == 0
    got = rows_of(engine, table)
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5]
    assert [r["name"] for r in got] == ["a", "b", "c", "d", "e"]
    assert [r["amount"] for r in got][2:] == [3.0, 4.5, 5.0] and pd.isna(got[1]["amount"])
    assert p.metrics()["components"]["out"]["rows_written"] == 5


async def test_rows_the_database_refuses_fail_alone_and_the_others_are_written(database):
    url, engine, tables = database
    table = new_table(tables, engine, "id INTEGER PRIMARY KEY, name VARCHAR(10)")
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO {table} VALUES (7, 'there')"))
    events = [
        pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}),
        pd.DataFrame({"id": [3, 7], "name": ["c", "dup"]}),  # 7 is there: the frame fails
        {"id": 4, "name": "d"},
        {"id": 7, "name": "dup too"},  # this row alone fails
        {"id": 5, "name": "e"},
        {"id": 6, "name": "f"},
    ]

    def build(app, p):
        source = HarnessSource(app, p, "src", batch_size=6)
        source.feed([(None, e) for e in events])
        return [source, DataFrameSQLSink(app, p, "out", config={"url": url, "table": table})]

    app, p, dead = pipeline(build, dead_letter=True)
    assert await run_app(app) == 0
    assert [r["id"] for r in rows_of(engine, table)] == [1, 2, 4, 5, 6, 7]
    assert dead is not None
    assert [d["event_type"] for d in dead.events] == ["DataFrame", "dict"]
    assert [r["id"] for r in dead.events[0]["event"]] == [3, 7]
    assert dead.events[1]["event"] == {"id": 7, "name": "dup too"}
    assert all("IntegrityError" in d["error"] for d in dead.events)
    assert all(d["error"].startswith("PermanentWriteError") for d in dead.events)
    assert p.metrics()["dead_lettered"] == 2


def test_the_password_is_a_secret_and_a_bad_url_names_the_key(tmp_path):
    app = pump.Application()
    p = pump.Pipeline(app, "p")
    config = {"url": "mysql+pymysql://pump@127.0.0.1/x", "table": "t", "password": "s3cret"}
    sink = DataFrameSQLSink(app, p, "out", config=config)
    assert sink.Engine.url.password == "s3cret"
    assert "s3cret" not in repr(sink.Config) and "s3cret" not in str(sink.Engine.url)
    with pytest.raises(ConfigError, match="key 'url'"):
        DataFrameSQLSink(app, p, "bad", config={"url": "nosuchdb+x://h/d", "table": "t"})
    with pytest.raises(ConfigError, match="table"):
        DataFrameSQLSink(app, p, "none", config={"url": f"sqlite:///{tmp_path}/x.db"})


class SQLSinkRules(SinkContract):
    """A new table per test, made by the sink from the first rows."""

    bad_configs = ({"table": ""}, {"insert_rows": 0}, {"method": "bulk"})
    url: ClassVar[str] = ""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path):
        self.folder = tmp_path
        self.engine = sa.create_engine(self.database_url())
        self.table = f"pump_sql_{uuid.uuid4().hex[:12]}"
        yield
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
        self.engine.dispose()

    def database_url(self) -> str:
        raise NotImplementedError

    def failing_url(self) -> str:
        raise NotImplementedError

    def make_sink(self, app, pipeline, config=None):
        settings = {"url": self.database_url(), "table": self.table, **(config or {})}
        return DataFrameSQLSink(app, pipeline, "out", config=settings)

    def make_failing_sink(self, app, pipeline):
        return DataFrameSQLSink(
            app, pipeline, "out", config={"url": self.failing_url(), "table": self.table}
        )

    def read_back(self) -> list[Any]:
        if not sa.inspect(self.engine).has_table(self.table):
            return []
        return pd.read_sql(f"SELECT id, run, text FROM {self.table}", self.engine).to_dict(
            "records"
        )


class TestSQLiteSink(SQLSinkRules):
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'out.db'}"

    def failing_url(self) -> str:
        return f"sqlite:///{self.folder / 'no such folder' / 'out.db'}"  # cannot be opened


class TestMySQLSink(SQLSinkRules):
    def database_url(self) -> str:
        return mysql_url()

    def failing_url(self) -> str:
        return "mysql+pymysql://root@127.0.0.1:1/test"  # nothing listens there
