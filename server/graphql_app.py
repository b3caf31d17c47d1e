"""The GraphQL endpoint: GraphiQL in a browser, queries over HTTP, subscriptions over
websockets (server.websocket: graphql-transport-ws, and the legacy graphql-ws protocol for
older clients).

Whatever a client sends gets an answer in its transport's shape: over HTTP a JSON body of
`errors` with a 4xx for a body that cannot be read, a wrong method or a subscription (it
needs a websocket); over a websocket, the close codes server.websocket describes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import strawberry
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from models import limits
from models.errors import BadRequest, ChorusError, ServiceUnavailable, is_outage, unavailable
from models.users import authenticate, missing_token_message
from resolvers.context import Context
from schema.execution import RenderedData, compact_json
from server.auth import bearer_token
from server.failures import GRAPHQL_PATH, HttpFailure, error_response
from server.logs import bind_request
from server.services import services_of
from server.settings import Settings
from server.websocket import (
    ChorusWebSocketAdapter,
    LegacyWSHandler,
    PingingTransportWSHandler,
    Rejected,
)
from trainer import log_context, metrics

logger = logging.getLogger("chorus.graphql")


def _message_with_payload(message: dict[str, Any], payload_json: str) -> str:
    """`message` as compact JSON, its payload already encoded. A graphql-transport-ws `next`
    differs from one socket to the next by its operation id alone: the rest is spliced
    around the shared bytes."""
    if message.get("type") == "next" and len(message) == 3:
        return (
            '{"id":'
            + compact_json(message["id"])
            + ',"type":"next","payload":'
            + payload_json
            + "}"
        )
    fields = [
        compact_json(key) + ":" + (payload_json if key == "payload" else compact_json(value))
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

    def __init__(
        self, schema: strawberry.Schema, settings: Settings, graphiql_page: Path | None = None
    ) -> None:
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
        self._graphiql_page = graphiql_page

    async def render_graphql_ide(self, request: Request) -> Response:
        """The GraphiQL built with the dashboard, which needs no internet, else Strawberry's.

        Read on each request, like the dashboard's files: a rebuild changes the assets it names.
        """
        if self._graphiql_page is not None and self._graphiql_page.is_file():
            return HTMLResponse(self._graphiql_page.read_text(encoding="utf-8"))
        return await super().render_graphql_ide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with metrics.WEBSOCKET_CONNECTIONS.track_inprogress():
                await super().__call__(scope, receive, send)
            return
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

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """A query that nothing could be answered of, for the database is out of reach,
        answers 503, as it does when the outage is met before execution (the token's
        lookup): whether the token's user was kept (server.auth) must not change it."""
        if isinstance(response_data, dict) and _unavailable(response_data):
            sub_response.status_code = ServiceUnavailable.status
        return super().create_response(response_data, sub_response)

    def decode_json(self, data: str | bytes) -> object:
        """A request body (or GET's `variables`), read strictly: `limits.parse_json`."""
        value = limits.parse_json(data, max_bytes=limits.BODY_MAX_BYTES)
        if not isinstance(value, dict | list):  # a list is a batch, which is refused later
            raise BadRequest("The request body must be a JSON object.")
        return value

    def encode_json(self, data: object) -> str:
        """Compact JSON. A subscription result that many subscribers share (schema.execution)
        is encoded once; each message adds only its own `id` and `type` around it. The legacy
        graphql-ws protocol shares the result too; its `data` messages are put together key by
        key (`_message_with_payload`), a little slower than graphql-transport-ws's splice."""
        if isinstance(data, dict):
            payload = data.get("payload")
            if isinstance(payload, dict) and len(payload) == 1:
                shared = payload.get("data")
                if isinstance(shared, RenderedData):
                    return _message_with_payload(data, shared.payload())
        return compact_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        services = services_of(request)
        authorization = request.headers.get("authorization")
        over_websocket = isinstance(request, WebSocket)
        # A websocket authenticates with its connection_init (on_ws_connect), where a
        # failure has a close code to say so.
        user = None if over_websocket else await services.auth.user_for(authorization)
        request_id = bind_request(request, user.id if user else None)
        return Context(
            services=services,
            user=user,
            request_id=request_id,
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
        bearer = bearer_token(token)
        try:
            context.user = (
                None
                if bearer is None
                else await context.read_patiently(lambda db: authenticate(db, bearer))
            )
        except ServiceUnavailable as error:  # its turn did not come in time
            logger.warning("websocket %s: %s", context.request_id, error.message)
            raise Rejected(1013, "Try again later", error.message) from error
        except Exception as error:
            if not is_outage(error):
                raise
            logger.warning(
                "websocket %s: the database cannot be reached: %s", context.request_id, error
            )
            message = unavailable(f"request id {context.request_id}").message
            raise Rejected(1013, "Try again later", message) from error
        log_context.user_id.set(context.user.id if context.user else None)
        if context.user is None:
            message = missing_token_message(token is not None)
            raise Rejected(4403, "Forbidden", message)
        return None


def _unavailable(response: GraphQLHTTPResponse) -> bool:
    """Whether the answer has no data and only says to try again."""
    errors = response.get("errors")
    return (
        response.get("data") is None
        and bool(errors)
        and all(
            isinstance(error, dict)
            and (error.get("extensions") or {}).get("code") == ServiceUnavailable.code
            for error in errors or ()
        )
    )


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
