"""The application factory: every part of the server, wired in one place."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from models.engine import ping
from schema import build_schema
from server import autotrain, downloads, metrics, metrics_route, openapi, rest
from server.admitted import admitted
from server.dashboard import dashboard_routes, graphiql_page
from server.failures import CatchAll, http_error
from server.graphql_app import ChorusGraphQL
from server.request_metrics import RequestMetrics
from server.services import Services, services_of
from server.settings import Settings
from trainer.teachers.ensemble import unavailable_teachers

logger = logging.getLogger("chorus")


def _priority() -> str:
    """What the ready line says of a process that runs below normal CPU priority."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    return f"; at CPU priority nice {nice}" if nice > 0 else ""


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            Services.open(settings) as services,
            metrics.metrics_listener(settings, services.db),
        ):
            app.state.services = services
            logger.info(
                "Chorus ready: database %s, teachers %s%s",
                services.engine.url.render_as_string(hide_password=True),
                ", ".join(t.name for t in services.teachers if t.available) or "none available",
                _priority(),
            )
            unavailable = unavailable_teachers(services.teachers, os.environ)
            if unavailable:
                logger.info("Teachers configured but unavailable: %s", _by_reason(unavailable))
            yield

    schema = build_schema(
        max_depth=settings.query_depth_limit,
        max_tokens=settings.query_max_tokens,
        max_aliases=settings.query_max_aliases,
    )
    graphql = ChorusGraphQL(schema, settings, graphiql_page(settings.dashboard_dir))
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        metrics_route.route(),
        admitted(Route("/graphql", graphql, methods=["GET", "POST"])),
        WebSocketRoute("/graphql", graphql),
        Mount(
            "/api",
            routes=[*map(admitted, [*rest.routes(), *downloads.routes()]), openapi.route()],
        ),
        autotrain.route(),
        *dashboard_routes(settings.dashboard_dir),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
        ),
        # Outside CatchAll, so that a failure is counted with the status it is answered with.
        Middleware(RequestMetrics, routes=routes),
        # Inside CORS, so that its JSON answers reach a browser too.
        Middleware(CatchAll),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )


def _by_reason(unavailable: dict[str, str]) -> str:
    """`a, b (GROQ_API_KEY is not set); c (HF_TOKEN is not set)`: one clause per reason."""
    names_by_reason: dict[str, list[str]] = {}
    for name, reason in unavailable.items():
        names_by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)} ({reason})" for reason, names in names_by_reason.items())


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    try:
        await ping(services_of(request).engine)
    except Exception as error:  # any failure to reach the database means not ready
        # The driver's text names hosts and users: the log has it, the answer (which needs
        # no token) does not.
        logger.warning("readiness check failed: %s", error)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})
