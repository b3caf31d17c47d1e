"""What to tell an operator whose database Chorus cannot use: one line that says what to do,
in place of the driver's traceback (`chorus serve`, `chorus migrate` and the other commands)."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from models.engine import is_mysql

# MySQL/MariaDB client and server error numbers.
ACCESS_DENIED_TO_DATABASE = 1044
# 1698: MariaDB's answer for a user it does not know, without saying whether a password was sent.
ACCESS_DENIED = (1045, 1698)
UNKNOWN_DATABASE = 1049
CANNOT_CONNECT = (2002, 2003, 2005, 2006, 2013)


def database_problem(error: DBAPIError, database_url: str) -> str:
    """`error`, raised using the database at `database_url`, as one line saying what to do."""
    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    code, message = _code_and_message(error)
    if not is_mysql(database_url):
        return f"Cannot use the database {shown}: {message}. Check CHORUS_DATABASE_URL."
    server = f"{url.host or 'localhost'}:{url.port or 3306}"
    if code in CANNOT_CONNECT:
        return (
            f"Cannot reach the MySQL/MariaDB server at {server} ({_cause(error) or message}). "
            "Start it, or point CHORUS_DATABASE_URL at a running one."
        )
    if code == UNKNOWN_DATABASE:
        return (
            f"The database {url.database!r} does not exist on {server}: create it, then run "
            f"`chorus migrate`. {_as_root(_create_statements(url))}"
        )
    if code in ACCESS_DENIED:
        return (
            f"{server} refused user {url.username!r} (no such user, or the wrong password): "
            f"correct CHORUS_DATABASE_URL, or create the user. {_as_root(_user_statements(url))}"
        )
    if code == ACCESS_DENIED_TO_DATABASE:
        return (
            f"User {url.username!r} may not use the database {url.database!r} on {server}. "
            f"{_as_root([_grant(url)])}"
        )
    return f"The database {shown} failed: {message}."


def _code_and_message(error: DBAPIError) -> tuple[int | None, str]:
    args: tuple[object, ...] = getattr(error.orig, "args", ())
    match args:
        case (int() as code, message, *_):
            return code, str(message)
    return None, str(error.orig)


def _cause(error: DBAPIError) -> str | None:
    """The network error under the driver's "Can't connect": refused, no such host..."""
    if error.orig is None:
        return None
    cause = error.orig.__cause__ or error.orig.__context__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return None


def _as_root(statements: list[str]) -> str:
    return "As root, in the `mysql` client: " + " ".join(statements)


def _create_statements(url: URL) -> list[str]:
    create = f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    if url.username in (None, "root"):
        return [create]
    return [create, *_user_statements(url)]


def _user_statements(url: URL) -> list[str]:
    return [f"CREATE USER '{url.username}'@'%' IDENTIFIED BY '<password>';", _grant(url)]


def _grant(url: URL) -> str:
    return f"GRANT ALL PRIVILEGES ON `{url.database}`.* TO '{url.username}'@'%';"
