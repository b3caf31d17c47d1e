"""Telling a database that is out of reach for a while (restarting, failing over, too busy)
from one that refuses a statement: writers retry the first and stop on the second."""

from __future__ import annotations

from sqlalchemy import exc

# MySQL/MariaDB client and server errors that mean "not now" rather than "never": the
# server is unreachable, went away, is shutting down, has no connection to spare, or chose
# this transaction as a deadlock's victim.
_MYSQL_TRANSIENT = {1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2014, 2055, 4031}
_SQLITE_TRANSIENT = ("database is locked", "database is busy")


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database is out of reach or busy, so that the same write may
    succeed later."""
    if isinstance(error, exc.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        code = original.args[0] if original is not None and original.args else None
        if isinstance(code, int):
            return code in _MYSQL_TRANSIENT or code == 0  # 0: aiomysql's closed connection
        text = str(original).lower()
        return isinstance(error, exc.OperationalError) and any(
            reason in text for reason in _SQLITE_TRANSIENT
        )
    return isinstance(error, OSError)
