"""The application factory: every part of the server, wired in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from models.engine import create_engine, session_factory
from schema import build_schema
from server import autotrain, downloads, rest
from server.dashboard import dashboard_routes
from server.graphql_app import ChorusGraphQL
from server.migrate import prepare_database
from server.retention import prune_events_periodically
from server.services import Services
from server.settings import Settings
from trainer.finetune import FineTuner
from trainer.live import EventHub
from trainer.manager import SessionManager
from trainer.session import RunnerOptions
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs

logger = logging.getLogger("chorus")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    engine = create_engine(settings.database_url)
    services = Services(settings=settings, engine=engine, sessions=session_factory(engine))
    schema = build_schema(
        max_depth=settings.query_depth_limit,
        max_tokens=settings.query_max_tokens,
        max_aliases=settings.query_max_aliases,
    )
    graphql = ChorusGraphQL(schema, services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await prepare_database(engine, settings.database_url)
        configs = load_teacher_configs(settings.teachers_file, os.environ)
        services.teachers = build_ensemble(
            configs, env=os.environ, offline_latency_ms=settings.offline_latency_ms
        )
        fine_tuner = FineTuner(
            services.sessions,
            data_dir=settings.data_dir,
            base_url=settings.fine_tune_base_url,
            api_key=os.environ.get(settings.fine_tune_api_key_env),
            base_model=settings.fine_tune_base_model,
        )
        services.fine_tuner = fine_tuner
        await fine_tuner.resume()
        hub = EventHub(settings.broadcast_url, feed_capacity=settings.subscriber_buffer)
        manager = SessionManager(
            services.sessions,
            services.teachers,
            publish=hub.publish,
            send_control=hub.send_control,
            options=RunnerOptions(settings.max_concurrent_examples, settings.fine_tune_backend),
            max_running_per_user=settings.max_running_sessions_per_user,
            fine_tuner=fine_tuner,
            latencies=services.latencies,
            heartbeat_s=settings.session_heartbeat_s,
        )
        await hub.start(on_control=manager.on_control)
        services.hub, services.manager = hub, manager
        await manager.start_background()
        pruner = asyncio.create_task(prune_events_periodically(services.sessions, settings))
        logger.info(
            "Chorus ready: database %s, teachers %s",
            engine.url.render_as_string(hide_password=True),
            ", ".join(t.name for t in services.teachers),
        )
        try:
            yield
        finally:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
            await manager.aclose()
            await hub.stop()
            await fine_tuner.aclose()
            for teacher in services.teachers:
                await teacher.aclose()
            await engine.dispose()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure to reach the database means not ready
            logger.warning("readiness check failed: %s", error)
            return JSONResponse({"status": "unavailable", "database": str(error)}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Mount("/api", routes=[*rest.routes(services), *downloads.routes(services)]),
        autotrain.route(services),
        *dashboard_routes(settings.dashboard_dir),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.services = services
    return app
