"""Errors that reach users, shared by GraphQL, REST, the command line and the trainer.

Each carries the GraphQL `extensions.code`, the HTTP status the REST routes answer with,
and a message that says what to fix::

    ChorusError
    ├── BadUserInput      400  the input names something wrong; nothing was written
    ├── Unauthenticated   401  no token, or a token that is unknown or revoked
    ├── Forbidden         403  a valid user asking for another user's data
    ├── NotFound          404  no such thing, or not yours (existence is not revealed)
    └── Conflict          409  the request is valid but the state does not allow it

LeaseLost is the trainer's own and never reaches users: a worker's write for a session that
is no longer its (another worker took it over, or it ended) is refused with it.
"""

from __future__ import annotations

from typing import Any


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


class LeaseLost(Exception):
    """The writer no longer holds the session's lease: what it meant to write is dropped."""
