"""How a failure reaches an HTTP client: as JSON in its transport's shape, with a 4xx or 5xx
status, and for anything unexpected a request id that the log repeats beside the traceback.

GraphQL (`/graphql`) answers `{"errors": [{"message", "extensions": {"code", ...}}]}`, the
REST routes and the rest of the server `{"error": code, "message", "field"?, "requestId"?}`.
Every request gets its request id here (the client's `X-Request-Id` when it is a sensible
one), and every answer carries it back in that header.

`CatchAll` is the last line, not the main one: the routes answer every failure they know
of; an exception that reaches it still becomes JSON, a 503 when the database cannot be
reached and a 500 otherwise, never the server's plain-text 500.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.errors import ChorusError, is_outage, public_message, unavailable

logger = logging.getLogger("chorus.http")

GRAPHQL_PATH = "/graphql"
REQUEST_ID_HEADER = "x-request-id"
_SENSIBLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class HttpFailure(ChorusError):
    """A failure the HTTP layer names by its status: an unknown path, a wrong method."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = _CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")


def request_id_of(connection: HTTPConnection) -> str:
    """The request id `CatchAll` gave this request (a new one outside it, as in tests that
    call a route on its own)."""
    state = connection.scope.get("state") or {}
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else uuid.uuid4().hex[:16]


def error_response(
    path: str,
    error: ChorusError,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """`error` in the shape of the transport that serves `path`."""
    headers = dict(headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body: dict[str, Any]
    if path == GRAPHQL_PATH:
        extensions = dict(error.extensions)
        if request_id is not None:
            extensions["requestId"] = request_id
        body = {"errors": [{"message": error.message, "extensions": extensions}]}
    else:
        body = {"error": error.code, "message": error.message}
        if error.field:
            body["field"] = error.field
        if request_id is not None:
            body["requestId"] = request_id
    return JSONResponse(body, status_code=error.status, headers=headers)


def unexpected(error: BaseException, request_id: str) -> ChorusError:
    """What a client is told of an exception that nothing answered; logged here."""
    reference = f"request id {request_id}"
    if is_outage(error):
        logger.warning("request %s: the database cannot be reached: %s", request_id, error)
        return unavailable(reference)
    logger.error("request %s: unexpected error", request_id, exc_info=error)
    return ChorusError(public_message(error, reference))


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's HTTPException (an unknown path, a method a route does not take) as JSON."""
    assert isinstance(error, HTTPException)
    failure = HttpFailure(error.status_code, error.detail)
    return error_response(request.url.path, failure, headers=dict(error.headers or {}))


class CatchAll:
    """Gives each request its id, and answers in JSON whatever exception the app let out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _given_id(scope) or uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            failure = unexpected(error, request_id)
            if started:  # too late for an answer of its own: the client sees a cut response
                raise
            await error_response(scope["path"], failure, request_id)(scope, receive, sending)


def _given_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _SENSIBLE_ID.fullmatch(text) else None
    return None
