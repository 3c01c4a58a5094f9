"""pump-influxdb: InfluxDB connection, line-protocol sink (1.x and 2.x/3.x APIs), query source."""

from pump_influxdb.connection import InfluxDBConnection
from pump_influxdb.errors import (
    InfluxDBAuthError,
    InfluxDBError,
    InfluxDBNotFound,
    InfluxDBQueryError,
    InfluxDBUnavailable,
    LineProtocolError,
    PointRejected,
)
from pump_influxdb.lineprotocol import LineBuilder
from pump_influxdb.sink import InfluxDBSink
from pump_influxdb.source import InfluxDBSource

__version__ = "0.1.0"

__all__ = [
    "InfluxDBAuthError",
    "InfluxDBConnection",
    "InfluxDBError",
    "InfluxDBNotFound",
    "InfluxDBQueryError",
    "InfluxDBSink",
    "InfluxDBSource",
    "InfluxDBUnavailable",
    "LineBuilder",
    "LineProtocolError",
    "PointRejected",
]
