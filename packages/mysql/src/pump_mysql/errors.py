"""Errors of pump-mysql, and which server errors are worth a retry: none shows a credential."""

from __future__ import annotations

import asyncio

import pymysql

from pump.errors import PermanentWriteError, PumpError

#: Client and server codes of a connection that is gone (the statement's fate is unknown).
CONNECTION_LOST = frozenset(
    {
        2003,  # CR_CONN_HOST_ERROR: cannot connect
        2006,  # CR_SERVER_GONE_ERROR
        2013,  # CR_SERVER_LOST: lost during a query
        2055,  # CR_SERVER_LOST_EXTENDED
        1053,  # ER_SERVER_SHUTDOWN
        1927,  # ER_CONNECTION_KILLED (MariaDB)
        4031,  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
    }
)

#: Server codes that a later attempt of the same statement may get past.
TRANSIENT = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections
        1205,  # ER_LOCK_WAIT_TIMEOUT
        1213,  # ER_LOCK_DEADLOCK (the server rolled the whole transaction back)
        1290,  # ER_OPTION_PREVENTS_STATEMENT: --read-only (a fail-over in progress)
        1836,  # ER_READ_ONLY_MODE
        1969,  # ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
        3024,  # ER_QUERY_TIMEOUT (MySQL max_execution_time)
    }
)


class MySQLError(PumpError):
    """Something about the MySQL server is wrong: unreachable, refused, or missing a table."""


class MySQLConnectionError(MySQLError, ConnectionError):
    """The server cannot be reached, refused the login, or the connection was lost."""


class MySQLSchemaError(MySQLError):
    """A table or column the component needs does not exist."""


class MySQLRowError(PermanentWriteError):
    """The server refused one event's row (a constraint, bad data): it will never be written.

    `code` and `server_message` are the server's error code and text.
    """

    def __init__(self, message: str, code: int, server_message: str) -> None:
        super().__init__(message)
        self.code = code
        self.server_message = server_message


def error_code(exc: BaseException) -> int | None:
    """The MySQL error code of `exc` (a pymysql error), or None."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def error_text(exc: BaseException) -> str:
    """The server's message of a pymysql error (else `str(exc)`)."""
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` means the connection is gone (the link, not the statement, failed)."""
    if isinstance(exc, pymysql.err.InterfaceError | ConnectionError | asyncio.IncompleteReadError):
        return True
    if isinstance(exc, OSError | RuntimeError) and not isinstance(exc, pymysql.err.MySQLError):
        # aiomysql raises RuntimeError on a closed transport, OSError on a broken socket
        return True
    return error_code(exc) in CONNECTION_LOST


def transient(exc: BaseException) -> bool:
    """True when the same statement may succeed later (lost link, lock wait, deadlock)."""
    return connection_lost(exc) or error_code(exc) in TRANSIENT
