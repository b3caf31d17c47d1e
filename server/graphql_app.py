"""The GraphQL endpoint: GraphiQL in a browser, queries over HTTP, subscriptions over
websockets (graphql-transport-ws, and the legacy graphql-ws protocol for older clients)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)
from strawberry.types.unset import UnsetType

from models.users import missing_token_message
from resolvers.context import Context
from schema.execution import RenderedData, compact_json
from server.auth import user_for
from server.logs import bind_request
from server.services import services_of
from server.settings import Settings
from trainer import log_context


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

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
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
        user = await user_for(services.db, authorization)
        request_id = bind_request(request, user.id if user else None)
        return Context(
            services=services,
            user=user,
            request_id=request_id,
            request=request,
            response=response,
            token_given=bool(authorization),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate from `connection_init`'s payload, else from the upgrade's header."""
        token = _token_of(context.connection_params)
        if token is not None:
            context.user = await user_for(context.services.db, token)
            log_context.user_id.set(context.user.id if context.user else None)
        if context.user is None:
            message = missing_token_message(token is not None or context.token_given)
            raise ConnectionRejectionError({"message": message})
        return None
