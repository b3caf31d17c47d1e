"""What the running server holds: settings, the database, the ensemble, the fine-tuner, the
live event hub, the session queue and manager, the queue of requests for their turn
(resolvers.admission), and (on the in-process queue) the worker that runs the sessions.

`Services.open` is the one way to start them, for the app's lifespan, `chorus train` and the
benchmarks alike; it closes them in reverse order and owns every task it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from models.engine import create_engine, session_factory
from resolvers.admission import Admission
from server.auth import Authenticator, TokenCache
from server.migrate import prepare_database
from server.retention import prune_events_periodically
from server.settings import Settings
from server.workers import open_queue, running_worker
from trainer import metrics
from trainer.finetune import FineTuner
from trainer.live import EventHub
from trainer.manager import SessionManager
from trainer.teachers.base import Teacher
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs
from trainer.teachers.redis_pacing import open_pacing
from trainer.worker import SessionWorker


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    auth: Authenticator
    teachers: list[Teacher]
    fine_tuner: FineTuner
    hub: EventHub
    manager: SessionManager
    # The queue of requests for their turn to run (GraphQL, REST, subscriptions' reads).
    admission: Admission
    # The embedded worker of `chorus serve` on the in-process queue; None on Redis, where
    # `chorus worker` processes run the sessions.
    worker: SessionWorker | None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, *, serving: bool = True) -> AsyncIterator[Services]:
        """Everything started, and stopped again on leaving.

        `serving=False` is for a process that runs its own sessions and exits (`chorus
        train`, the benchmarks): it picks up no fine-tuning jobs a stopped server left (it
        would wait for them before exiting), joins no broadcast, runs no worker and prunes
        no events. Its hub and manager are there, unstarted.
        """
        async with contextlib.AsyncExitStack() as stack:
            engine = create_engine(
                settings.database_url,
                pool_size=settings.db_pool_size,
                pool_timeout_s=settings.db_pool_timeout_s,
            )
            stack.push_async_callback(engine.dispose)
            metrics.watch_pool(engine)
            await prepare_database(engine, settings.database_url)
            db = session_factory(engine)
            # Processes that share live events run sessions side by side, and share each
            # teacher's budget of calls too.
            pacing = open_pacing(settings.broadcast_url)
            stack.push_async_callback(pacing.aclose)
            teachers = build_ensemble(
                load_teacher_configs(settings.teachers_file, os.environ),
                env=os.environ,
                offline_latency_ms=settings.offline_latency_ms,
                pacing=pacing,
            )
            for teacher in teachers:
                stack.push_async_callback(teacher.aclose)
            fine_tuner = FineTuner(
                db,
                data_dir=settings.data_dir,
                base_url=settings.fine_tune_base_url,
                api_key=os.environ.get(settings.fine_tune_api_key_env),
                base_model=settings.fine_tune_base_model,
                lease_s=settings.session_lease_s,
            )
            stack.push_async_callback(fine_tuner.aclose)
            hub = EventHub(settings.broadcast_url, feed_capacity=settings.subscriber_buffer)
            queue = await stack.enter_async_context(open_queue(settings))
            manager = SessionManager(
                db, teachers, queue, publish=hub.publish, lease_s=settings.session_lease_s
            )
            worker = None
            if serving:
                stack.push_async_callback(hub.stop)
                await hub.start()
                if settings.embedded_worker:
                    worker = await stack.enter_async_context(
                        running_worker(settings, teachers, queue, hub)
                    )
                pruner = asyncio.create_task(prune_events_periodically(db, settings))
                stack.push_async_callback(_cancel, pruner)
            auth = Authenticator(db, TokenCache(settings.token_cache_s))
            admission = Admission(settings.active_request_limit, settings.request_queue_timeout_s)
            yield cls(
                settings,
                engine,
                db,
                auth,
                teachers,
                fine_tuner,
                hub,
                manager,
                admission,
                worker,
            )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def services_of(connection: HTTPConnection) -> Services:
    """The services of the app serving `connection`, opened by its lifespan."""
    services = connection.app.state.services
    assert isinstance(services, Services), "the services open with the app's lifespan"
    return services
