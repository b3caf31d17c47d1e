"""The GraphQL endpoint: GraphiQL in a browser, queries over HTTP, subscriptions over websockets."""

from __future__ import annotations

import uuid

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.context import Context
from server.auth import user_for
from server.services import Services


class ChorusGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: strawberry.Schema, services: Services) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.services = services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        user = await user_for(self.services.sessions, request.headers.get("authorization"))
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        return Context(
            services=self.services,
            user=user,
            request_id=request_id,
            request=request,
            response=response,
        )
