"""HTTP requests counted by method, route template and status, and timed by route template.

A route's template (`/api/training-history/user/{user_id}`), never its path, so that the
metrics have a series per route rather than per user or session. Websockets are not HTTP
requests here: `chorus_websocket_connections` counts them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a request no route matched is counted under.
UNMATCHED = "unmatched"
# The status of a request answered with nothing, its client having gone away first (while it
# waited for its turn): nginx's "client closed request".
CLIENT_GONE = 499


def route_templates(routes: Sequence[BaseRoute], prefix: str = "") -> dict[int, str]:
    """The template of every route, mounts' included, by the route's id: what Starlette's
    router leaves in `scope["route"]` is the innermost route that matched."""
    templates: dict[int, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            # A mount is its own route when nothing inside it matched, or when it mounts an
            # app that is not a router (the dashboard's static files).
            templates[id(route)] = prefix + route.path_format
            templates.update(route_templates(route.routes, prefix + route.path))
        elif isinstance(route, Route | WebSocketRoute):
            templates[id(route)] = prefix + route.path_format
    return templates


class RequestMetrics:
    """Counts and times each HTTP request once its answer is sent (or fails before one)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._templates = route_templates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            self._count(scope, status or 500, started)
            raise
        self._count(scope, status or CLIENT_GONE, started)

    def _count(self, scope: Scope, status: int, started: float) -> None:
        route = self._templates.get(id(scope.get("route")), UNMATCHED)
        method = scope["method"] if scope["method"] in METHODS else "other"
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
