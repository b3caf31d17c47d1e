"""What both example scripts need to reach a Chorus server: where it is, the token to send,
and error messages that say what to fix instead of a transport's traceback."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportError,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus

DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_HINT = "pass --token or set CHORUS_TOKEN (`chorus users create NAME` prints a token)"

# The server closes a graphql-transport-ws connection with this code when it refuses the
# token sent in `connection_init`.
WS_FORBIDDEN = 4403


class ClientError(Exception):
    """A problem the person running the script can fix; the message says how."""


@dataclass(frozen=True)
class Server:
    """A Chorus server's base URL (`http://host:port`) and the token to send it."""

    url: str
    token: str

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def websocket_url(self) -> str:
        scheme = "wss" if self.url.startswith("https:") else "ws"
        return f"{scheme}:{self.url.split(':', 1)[1]}/graphql"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def connection_params(self) -> dict[str, Any]:
        """The `connection_init` payload: websockets carry the token there, not in a header."""
        return {"authorization": f"Bearer {self.token}"}


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("CHORUS_URL", DEFAULT_URL),
        help=f"the server's base URL (env CHORUS_URL; default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CHORUS_TOKEN"),
        help="a Chorus API token (env CHORUS_TOKEN)",
    )


def server_from(args: argparse.Namespace) -> Server:
    url = str(args.url).rstrip("/").removesuffix("/graphql")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(f"--url must look like http://host:port; got {args.url!r}")
    if not args.token:
        raise ClientError(f"no token: {TOKEN_HINT}")
    return Server(url=url, token=str(args.token))


def genre_name(value: str) -> str:
    """`science-fiction`, `Fairy tale` and `FAIRY_TALE` name a Genre as the schema spells it."""
    return value.strip().upper().replace("-", "_").replace(" ", "_")


def explain(error: Exception, server: Server) -> ClientError:
    """What went wrong talking to `server`, in terms of what to do about it."""
    if isinstance(error, ClientError):
        return error
    if isinstance(error, TransportQueryError):
        return _graphql_error(error, server)
    cause = error.__cause__ if isinstance(error, TransportConnectionFailed) else error
    if isinstance(cause, ConnectionClosed) and cause.rcvd and cause.rcvd.code == WS_FORBIDDEN:
        return ClientError(f"{server.url} refused the token: {TOKEN_HINT}")
    if isinstance(cause, InvalidStatus):
        status = cause.response.status_code
        return ClientError(
            f"{server.websocket_url} answered HTTP {status} instead of a websocket: "
            f"is {server.url} a Chorus server?"
        )
    if isinstance(cause, OSError | httpx.TransportError):
        return ClientError(
            f"cannot reach {server.url} ({str(cause) or type(cause).__name__}): "
            "is the server running? Set --url or CHORUS_URL."
        )
    if isinstance(error, TransportServerError):
        return ClientError(
            f"{server.graphql_url} answered HTTP {error.code}: is {server.url} a Chorus server?"
        )
    if isinstance(error, TransportProtocolError):
        return ClientError(f"{server.graphql_url} did not answer as a GraphQL server: {error}")
    return ClientError(f"{type(error).__name__}: {error}")


def is_transient(error: Exception) -> bool:
    """A dropped connection is worth retrying; a refused token or an error in the request is not."""
    if isinstance(error, TransportQueryError | TransportServerError | TransportProtocolError):
        return False
    if isinstance(error, TransportConnectionFailed):
        cause = error.__cause__
        if isinstance(cause, InvalidStatus):
            return False
        if isinstance(cause, ConnectionClosed) and cause.rcvd:
            return cause.rcvd.code != WS_FORBIDDEN
    return isinstance(error, TransportError | OSError | TimeoutError)


def _graphql_error(error: TransportQueryError, server: Server) -> ClientError:
    first: dict[str, Any] = (error.errors or [{}])[0]
    message = str(first.get("message", error))
    extensions = first.get("extensions") or {}
    code = extensions.get("code")
    if code == "UNAUTHENTICATED":
        return ClientError(f"{server.url} refused the token: {TOKEN_HINT}")
    field = extensions.get("field")
    detail = f" [{code}{f', field {field}' if field else ''}]" if code else ""
    return ClientError(f"{message}{detail}")
