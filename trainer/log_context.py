"""What a log line is about: the request, the user and the training session being worked on.

Each is a context variable, set where that work starts (the GraphQL context and the REST
routes for a request, the session runner for a session) and read by the JSON log formatter
(server.logs), so every line logged while the work runs names them without passing them
down. A request runs in a task of its own, and a session too: what one sets, no other sees.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id: ContextVar[int | None] = ContextVar("user_id", default=None)
session_id: ContextVar[str | None] = ContextVar("session_id", default=None)


def current() -> dict[str, str | int]:
    """The ids known where this is called, by name; the unknown ones left out."""
    known = {
        "request_id": request_id.get(),
        "user_id": user_id.get(),
        "session_id": session_id.get(),
    }
    return {name: value for name, value in known.items() if value is not None}


def bind_session(session: str, user: int) -> None:
    """For the rest of the task that runs the session, a task of its own: its lines are the
    session's, not those of the request that started it."""
    session_id.set(session)
    user_id.set(user)
    request_id.set(None)
