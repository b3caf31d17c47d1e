"""Where sessions run: the queue a process uses, the embedded worker of `chorus serve` on
the in-process queue, and the `chorus worker` process on Redis.

A worker has its own engine and connection pool, sized to its sessions, so that no number of
API readers can starve its writes; and its own fine-tuner, for the jobs its sessions trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Sequence

from models.engine import create_engine, session_factory
from server.metrics import metrics_listener
from server.migrate import prepare_database
from server.settings import Settings
from trainer import metrics
from trainer.finetune import FineTuner
from trainer.live import EventHub
from trainer.queue import MemoryQueue, SessionQueue
from trainer.saq_queue import SaqQueue
from trainer.session import RunnerOptions
from trainer.teachers.base import Teacher
from trainer.teachers.ensemble import build_ensemble, load_teacher_configs
from trainer.teachers.redis_pacing import open_pacing
from trainer.worker import SessionWorker, WorkerOptions

logger = logging.getLogger("chorus.worker")


@contextlib.asynccontextmanager
async def open_queue(settings: Settings) -> AsyncIterator[SessionQueue]:
    if settings.queue_url == "memory://":
        yield MemoryQueue()
        return
    queue = SaqQueue(
        settings.queue_url,
        settings.queue_name,
        lease_s=settings.session_lease_s,
        shutdown_s=settings.worker_shutdown_s,
    )
    await queue.connect()
    try:
        yield queue
    finally:
        await queue.aclose()


def worker_options(settings: Settings, *, hand_back: bool = True) -> WorkerOptions:
    return WorkerOptions(
        sessions=settings.worker_sessions,
        lease_s=settings.session_lease_s,
        max_takeovers=settings.max_takeovers,
        max_running_per_user=settings.max_running_sessions_per_user,
        hand_back=hand_back,
        runner=RunnerOptions(
            settings.max_concurrent_examples,
            settings.fine_tune_backend,
            max_output_chars=settings.max_output_chars,
        ),
    )


def _pool_size(settings: Settings) -> int:
    # Per session its recorder and its event log writer; the keeper, the scan and a claim.
    return 2 * settings.worker_sessions + 3


@contextlib.asynccontextmanager
async def _worker(
    settings: Settings,
    teachers: Sequence[Teacher],
    queue: SessionQueue,
    hub: EventHub,
    *,
    hand_back: bool = True,
) -> AsyncIterator[SessionWorker]:
    """A started worker on its own engine, stopped again on leaving."""
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.database_url, pool_size=_pool_size(settings))
        stack.push_async_callback(engine.dispose)
        db = session_factory(engine)
        fine_tuner = FineTuner(
            db,
            data_dir=settings.data_dir,
            base_url=settings.fine_tune_base_url,
            api_key=os.environ.get(settings.fine_tune_api_key_env),
            base_model=settings.fine_tune_base_model,
            lease_s=settings.session_lease_s,
        )
        stack.push_async_callback(fine_tuner.aclose)
        # The jobs nobody works on are taken up by the workers, as sessions are.
        await fine_tuner.start()
        worker = SessionWorker(
            db,
            teachers,
            queue,
            options=worker_options(settings, hand_back=hand_back),
            publish=hub.publish,
            fine_tuner=fine_tuner,
        )
        await worker.start()
        stack.push_async_callback(worker.aclose)
        metrics.watch_queue_depth(queue.depth)
        stack.callback(metrics.watch_queue_depth, None)
        yield worker


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    teachers: Sequence[Teacher],
    queue: SessionQueue,
    hub: EventHub,
) -> AsyncIterator[SessionWorker]:
    """The embedded worker of `chorus serve`, taking sessions from `queue` until the server
    stops; then it hands back what it runs, within the shutdown time."""
    async with _worker(settings, teachers, queue, hub) as worker:
        serving = asyncio.create_task(
            queue.serve(worker.run_session, settings.worker_sessions), name="session slots"
        )
        try:
            yield worker
        finally:
            serving.cancel()
            done, _ = await asyncio.wait({serving}, timeout=settings.worker_shutdown_s)
            if not done:
                logger.warning(
                    "sessions were not handed back within %.0f s; their leases run out instead",
                    settings.worker_shutdown_s,
                )


async def run_worker(settings: Settings, *, hand_back: bool = True) -> None:
    """`chorus worker`: run sessions from the Redis queue until SIGTERM or SIGINT, then hand
    back (or, without `hand_back`, interrupt) the ones running, and stop."""
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.database_url, pool_size=1)
        await prepare_database(engine, settings.database_url)
        await engine.dispose()
        # Every worker shares each teacher's budget of calls through Redis.
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
        hub = EventHub(settings.broadcast_url, feed_capacity=settings.subscriber_buffer)
        stack.push_async_callback(hub.stop)
        await hub.start()
        queue = await stack.enter_async_context(open_queue(settings))
        worker = await stack.enter_async_context(
            _worker(settings, teachers, queue, hub, hand_back=hand_back)
        )
        await stack.enter_async_context(metrics_listener(settings, worker.db))
        logger.info(
            "worker %s ready: %d sessions at once, teachers %s",
            worker.owner,
            settings.worker_sessions,
            ", ".join(teacher.name for teacher in teachers),
        )
        await queue.serve(worker.run_session, settings.worker_sessions)
        logger.info("worker %s stopped", worker.owner)
