"""HTTP routes that run in their turn (resolvers.admission): GraphQL over HTTP and the REST
reads. Health, readiness and metrics are not among them, so that they answer however long the
queue is; nor are websockets, whose subscriptions take a turn for each read instead.

While a request waits, its messages are read as they come (its body, up to the largest one
accepted), so that a client that goes away is seen and leaves the queue; the route then reads
them as if they had just arrived. A request that waits its longest is answered 503 with
Retry-After, in its route's shape (server.failures).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models import limits
from resolvers.admission import Overloaded
from server.failures import error_response, request_id_of
from server.services import services_of

logger = logging.getLogger("chorus.http")


def admitted(route: BaseRoute) -> BaseRoute:
    """`route` (an HTTP route), running its requests in their turn."""
    assert isinstance(route, Route), "only HTTP routes wait for their turn"
    route.app = _Admitted(route.app)
    return route


class _Admitted:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        admission = services_of(connection).admission
        arrived: list[Message] = []
        try:
            if not await admission.wait_turn(gone=lambda: _gone(receive, arrived)):
                return  # nobody is left to answer
        except Overloaded as error:
            request_id = request_id_of(connection)
            logger.warning("request %s: %s", request_id, error.message)
            headers = {"Retry-After": str(error.retry_after_s)}
            response = error_response(scope["path"], error, request_id, headers)
            await response(scope, receive, send)
            return

        async def replayed() -> Message:
            return arrived.pop(0) if arrived else await receive()

        try:
            with admission.running():
                await self.app(scope, replayed, send)
        finally:
            admission.done()


async def _gone(receive: Receive, arrived: list[Message]) -> None:
    """Returns when the client has gone away; keeps what it sent meanwhile in `arrived`."""
    size = 0
    while size <= limits.BODY_MAX_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        arrived.append(message)
        size += len(message.get("body", b""))
    # A body too large for any route is refused once its turn comes: the rest of it waits unread.
    await asyncio.Event().wait()
