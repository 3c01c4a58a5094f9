"""pump-mysql: MySQL/MariaDB connection and sink for Pump, on aiomysql.

    app.add_connection(MySQLConnection(app, "db", config={"host": "127.0.0.1", "database": "shop"}))
    pipeline.build(
        ...,
        MySQLSink(app, pipeline, "db", config={"table": "orders", "mode": "upsert"}),
    )
"""

from pump_mysql.connection import MySQLConnection
from pump_mysql.errors import (
    MySQLConnectionError,
    MySQLError,
    MySQLRowError,
    MySQLSchemaError,
)
from pump_mysql.sink import MySQLSink

__version__ = "0.1.0"

__all__ = [
    "MySQLConnection",
    "MySQLConnectionError",
    "MySQLError",
    "MySQLRowError",
    "MySQLSchemaError",
    "MySQLSink",
]
