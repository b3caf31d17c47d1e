"""The GraphQL endpoint: GraphiQL in a browser, queries over HTTP, subscriptions over
websockets (graphql-transport-ws, and the legacy graphql-ws protocol for older clients).

Whatever a client sends gets an answer in its transport's shape: over HTTP a JSON body of
`errors` with a 4xx for a body that cannot be read, a wrong method or a subscription (it
needs a websocket); over a websocket a close code: 4400 for a message that cannot be read,
4403 for a token that is missing, unknown or unusable, 1013 (try again later) when the
database that would check it cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from models import limits
from models.errors import BadRequest, ChorusError, is_outage, unavailable
from models.users import missing_token_message
from resolvers.context import Context
from schema.execution import RenderedData, compact_json
from server.auth import user_for
from server.failures import GRAPHQL_PATH, HttpFailure, error_response, request_id_of
from server.services import services_of
from server.settings import Settings

logger = logging.getLogger("chorus.graphql")


class Rejected(Exception):
    """A websocket that may not go on: closed with `code`, and on the legacy protocol told
    `message` in a `connection_error` first."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def decode_message(text: str) -> object:
    """A websocket message, read as a request body is (`limits.parse_json`), except that a
    lone surrogate escape is let through: the token check and the variables check refuse it
    with their own answers (4403, BAD_USER_INPUT), not as a message that cannot be read."""
    if len(text) > limits.BODY_MAX_BYTES:
        raise json.JSONDecodeError("the message is too large", "", 0)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
    if limits.depth_of(value) > limits.MAX_JSON_DEPTH:
        raise json.JSONDecodeError("the message nests too deeply", "", 0)
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class ChorusWebSocketAdapter(ASGIWebSocketAdapter):
    """Reads messages with `decode_message`."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    yield decode_message(await self.ws.receive_text())
                except json.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


def _well_formed_operation(message: dict[str, Any]) -> bool:
    """Whether a subscribe (or legacy start) message has an id and a payload of the shapes
    GraphQL over websockets gives them."""
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables") or {}, dict)
        and isinstance(payload.get("operationName") or "", str)
        and isinstance(payload.get("extensions") or {}, dict)
    )


class PingingTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Sends the protocol's `ping` on a connection that has been quiet for a while.

    Strawberry answers pings but never sends them, and mobile networks and proxies drop
    sockets that carry nothing; a ping keeps them open and shows the client is alive.
    """

    ping_interval_s = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_sent = time.monotonic()
        self._pinger: asyncio.Task[None] | None = None

    async def send_message(self, message: Message) -> None:
        self._last_sent = time.monotonic()
        await super().send_message(message)

    async def handle_message(self, message: Message) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("A message is an object with a `type`.")
        elif message["type"] == "subscribe" and not _well_formed_operation(dict(message)):
            await self.handle_invalid_message(
                "A subscribe message has an `id` and a `payload` with a `query`."
            )
        else:
            await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Rejected as rejection:
            await self.websocket.close(code=rejection.code, reason=rejection.reason)
            return
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            quiet = time.monotonic() - self._last_sent
            if quiet >= self.ping_interval_s:
                await self.send_message({"type": "ping"})
                quiet = 0.0
            await asyncio.sleep(self.ping_interval_s - quiet)

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pinger
        await super().shutdown()


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol: a rejected connection gets its `connection_error`
    and is closed with the rejection's code; a malformed operation gets an `error`."""

    async def handle_message(self, message: OperationMessage) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return  # the protocol ignores what it cannot read
        if message["type"] in ("start", "stop") and not isinstance(message.get("id"), str):
            return
        if message["type"] == "start" and not _well_formed_operation(dict(message)):
            await self.send_message(
                {
                    "type": "error",
                    "id": message["id"],
                    "payload": {"message": "A start message has a `payload` with a `query`."},
                }
            )
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Rejected as rejection:
            await self.send_message(
                {"type": "connection_error", "payload": {"message": rejection.message}}
            )
            await self.websocket.close(code=rejection.code, reason=rejection.reason)


def _message_with_data(message: dict[str, Any], data_json: str) -> str:
    """`message` as compact JSON, its payload being only `data`, already encoded."""
    fields = [
        compact_json(key)
        + ":"
        + ('{"data":' + data_json + "}" if key == "payload" else compact_json(value))
        for key, value in message.items()
    ]
    return "{" + ",".join(fields) + "}"


def _token_of(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    return None


class ChorusGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = ChorusWebSocketAdapter
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: strawberry.Schema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            keep_alive=True,  # the legacy protocol's "ka" messages
            keep_alive_interval=settings.ws_ping_interval_s,
        )
        self.max_subscriptions_per_connection = settings.ws_max_subscriptions
        handler = type(
            "ChorusTransportWSHandler",
            (PingingTransportWSHandler,),
            {"ping_interval_s": settings.ws_ping_interval_s},
        )
        self.graphql_transport_ws_handler_class = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            response = error_response(GRAPHQL_PATH, _http_failure(error))
        except ChorusError as error:
            response = error_response(GRAPHQL_PATH, error)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """A request body (or GET's `variables`), read strictly: `limits.parse_json`."""
        value = limits.parse_json(data, max_bytes=limits.BODY_MAX_BYTES)
        if not isinstance(value, dict | list):  # a list is a batch, which is refused later
            raise BadRequest("The request body must be a JSON object.")
        return value

    def encode_json(self, data: object) -> str:
        """Compact JSON. A subscription result that many subscribers share (schema.execution)
        is encoded once; each message adds only its own `id` and `type` around it."""
        if isinstance(data, dict):
            payload = data.get("payload")
            if isinstance(payload, dict) and len(payload) == 1:
                shared = payload.get("data")
                if isinstance(shared, RenderedData):
                    return _message_with_data(data, shared.encoded())
        return compact_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        services = services_of(request)
        authorization = request.headers.get("authorization")
        over_websocket = isinstance(request, WebSocket)
        # A websocket authenticates with its connection_init (on_ws_connect), where a
        # failure has a close code to say so.
        user = None if over_websocket else await user_for(services.db, authorization)
        return Context(
            services=services,
            user=user,
            request_id=request_id_of(request),
            request=request,
            response=response,
            token_given=bool(authorization),
            over_websocket=over_websocket,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate from `connection_init`'s payload, else from the upgrade's header."""
        token = _token_of(context.connection_params)
        if token is None:
            token = context.request.headers.get("authorization")
        try:
            context.user = await user_for(context.services.db, token)
        except Exception as error:
            if not is_outage(error):
                raise
            logger.warning(
                "websocket %s: the database cannot be reached: %s", context.request_id, error
            )
            message = unavailable(f"request id {context.request_id}").message
            raise Rejected(1013, "Try again later", message) from error
        if context.user is None:
            message = missing_token_message(token is not None)
            raise Rejected(4403, "Forbidden", message)
        return None


def _http_failure(error: HTTPException) -> ChorusError:
    """Strawberry's HTTP errors, worded for a person."""
    cause = error.__cause__
    if isinstance(cause, InvalidOperationTypeError) and (
        cause.operation_type is OperationType.SUBSCRIPTION
    ):
        return HttpFailure(
            400,
            "Subscriptions are served over a websocket at /graphql (graphql-transport-ws, or "
            "the legacy graphql-ws), not over HTTP.",
        )
    return HttpFailure(error.status_code, error.reason)
