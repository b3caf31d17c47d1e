"""Errors that reach users, shared by GraphQL, REST, the command line and the trainer.

Each carries the GraphQL `extensions.code`, the HTTP status the REST routes answer with,
and a message that says what to fix::

    ChorusError
    ├── BadRequest          400  the request itself cannot be read: its body or its method
    ├── BadUserInput        400  the input names something wrong; nothing was written
    ├── Unauthenticated     401  no token, or a token that is unknown or revoked
    ├── Forbidden           403  a valid user asking for another user's data
    ├── NotFound            404  no such thing, or not yours (existence is not revealed)
    ├── Conflict            409  the request is valid but the state does not allow it
    └── ServiceUnavailable  503  the database cannot be reached now; try again shortly

Anything else is unexpected: a client is told only `public_message` of it, and the log
has the rest under the same reference.

LeaseLost is the trainer's own and never reaches users: a worker's write for a session that
is no longer its (another worker took it over, or it ended) is refused with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sql


class ChorusError(Exception):
    code = "INTERNAL_SERVER_ERROR"
    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            extensions["field"] = self.field
        return extensions


class BadRequest(ChorusError):
    code = "BAD_REQUEST"
    status = 400


class BadUserInput(ChorusError):
    code = "BAD_USER_INPUT"
    status = 400


class Unauthenticated(ChorusError):
    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(ChorusError):
    code = "FORBIDDEN"
    status = 403


class NotFound(ChorusError):
    code = "NOT_FOUND"
    status = 404


class Conflict(ChorusError):
    code = "CONFLICT"
    status = 409


class ServiceUnavailable(ChorusError):
    code = "SERVICE_UNAVAILABLE"
    status = 503


# A pool with no free connection, a server that refuses, drops or is shutting down
# connections, has none to spare, or chose this transaction as a deadlock's victim, a lock
# not granted in time: all pass if the same request or write is tried again later. SQLite's
# and MySQL's drivers raise OperationalError for mistakes in a statement too, so it counts
# only with the codes or messages of an outage (0: aiomysql's closed connection).
_MYSQL_OUTAGES = frozenset(
    {0, 1040, 1053, 1205, 1213, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055, 4031}
)
_SQLITE_OUTAGES = (
    "database is locked",
    "database is busy",
    "unable to open database",
    "disk i/o error",
)


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, sql.TimeoutError | sql.DisconnectionError | sql.InterfaceError):
        return True
    if isinstance(error, sql.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sql.DBAPIError):
        args = getattr(error.orig, "args", ())
        if args and isinstance(args[0], int):
            return args[0] in _MYSQL_OUTAGES
        return isinstance(error, sql.OperationalError) and any(
            text in str(error.orig).lower() for text in _SQLITE_OUTAGES
        )
    return isinstance(error, OSError)


def is_outage(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the database cannot be reached right now."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if _is_outage(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def public_message(error: BaseException, reference: str) -> str:
    """What a client may read of `error`: a ChorusError's own message; for anything else a
    message a person can act on, with the `reference` (e.g. "request id 1f2e") under which
    the log has the details, and never the exception's text, which may be a driver's,
    SQLAlchemy's or a pool's."""
    if isinstance(error, ChorusError):
        return error.message
    if is_outage(error):
        return unavailable(reference).message
    return f"Internal server error ({reference})."


def unavailable(reference: str) -> ServiceUnavailable:
    """What a client is told when the database cannot be reached."""
    return ServiceUnavailable(
        "The database is not answering right now (too busy, or unreachable); try again in a "
        f"few seconds ({reference})."
    )


class LeaseLost(Exception):
    """The writer no longer holds the session's lease: what it meant to write is dropped."""
