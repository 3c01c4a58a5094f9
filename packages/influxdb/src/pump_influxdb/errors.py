"""Errors the InfluxDB connector raises on purpose, each saying what to check; no secret shown."""

from __future__ import annotations

from pump import PermanentWriteError, PumpError


class InfluxDBError(PumpError):
    """Base of the InfluxDB connector's own errors."""


class InfluxDBUnavailable(InfluxDBError, ConnectionError):
    """The server cannot be reached, timed out, or answered busy (429/5xx): worth a retry."""


class InfluxDBAuthError(InfluxDBError):
    """The server refused the credentials (401/403)."""


class InfluxDBNotFound(InfluxDBError):
    """The database, retention policy or bucket does not exist (or an API the server lacks)."""


class InfluxDBQueryError(InfluxDBError):
    """The server refused a query (bad syntax, unknown database, a statement error)."""


class LineProtocolError(InfluxDBError, ValueError):
    """An event cannot be written as line protocol (no fields, a value it cannot carry)."""


class PointRejected(InfluxDBError, PermanentWriteError):
    """The server refused this event's point for good (a field type conflict, a parse error).

    `status` is the HTTP status of the refusal, `server_message` the server's own words.
    """

    def __init__(self, message: str, status: int, server_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


__all__ = [
    "InfluxDBAuthError",
    "InfluxDBError",
    "InfluxDBNotFound",
    "InfluxDBQueryError",
    "InfluxDBUnavailable",
    "LineProtocolError",
    "PointRejected",
]
