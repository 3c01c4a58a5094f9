"""pump-mysql: MySQL/MariaDB connection, sink, source, binary-log source and lookup, on aiomysql.

app.add_connection(MySQLConnection(app, "db", config={"host": "127.0.0.1", "database": "shop"}))
pipeline.build(
    ...,
    MySQLSink(app, pipeline, "db", config={"table": "orders", "mode": "upsert"}),
)
"""

from pump_mysql.binlog import MySQLBinlogSource
from pump_mysql.connection import MySQLConnection
from pump_mysql.errors import (
    MySQLConnectionError,
    MySQLError,
    MySQLRowError,
    MySQLSchemaError,
)
from pump_mysql.lookup import MySQLLookup
from pump_mysql.sink import MySQLSink
from pump_mysql.source import MySQLSource

__version__ = "0.1.0"

__all__ = [
    "MySQLBinlogSource",
    "MySQLConnection",
    "MySQLConnectionError",
    "MySQLError",
    "MySQLLookup",
    "MySQLRowError",
    "MySQLSchemaError",
    "MySQLSink",
    "MySQLSource",
]
