"""The session queue on Redis, with SAQ: what `startTraining` enqueues and `chorus worker`
processes take.

A job per run of a session, its key the session id, so that SAQ keeps one job per session
while it is incomplete and a second wake-up is dropped. Sessions are long, so a job has no
timeout; its heartbeat is the lease, touched on every renewal, so that SAQ's sweep (every
third of a lease) finds a killed worker's job and retries it on another worker, which then
claims the session once its lease has run out. A worker that is stopped (SIGTERM) cancels its
jobs: each session is handed back, and SAQ queues its job again at once.
"""

from __future__ import annotations

import logging
import math

from saq import Job, Worker
from saq.queue.redis import RedisQueue
from saq.types import Context

from trainer.queue import Heartbeat, RunSession

logger = logging.getLogger("chorus.queue")

FUNCTION = "run_session"
# Each hand-back and each sweep of a session's job counts as an attempt.
RETRIES = 1000
# How long a finished job's record stays in Redis, for SAQ's own monitoring.
FINISHED_TTL_S = 600
# How long a sweep waits for a swept job's worker to stop it. A worker whose job is swept has
# died or lost Redis; SAQ's 5 s default would only delay the takeover.
SWEEP_ABORT_WAIT_S = 1.0


class _SessionRedisQueue(RedisQueue):
    async def sweep(self, lock: int = 60, abort: float = SWEEP_ABORT_WAIT_S) -> list[str]:
        return await super().sweep(lock, abort=min(abort, SWEEP_ABORT_WAIT_S))


class SaqQueue:
    """`SessionQueue` on Redis; `connect()` before use."""

    def __init__(self, url: str, name: str, *, lease_s: float, shutdown_s: float) -> None:
        self._queue = _SessionRedisQueue.from_url(url, name=name)
        self._lease_s = lease_s
        self._shutdown_s = shutdown_s

    async def connect(self) -> None:
        await self._queue.connect()

    async def enqueue(self, session_id: str) -> None:
        await self._queue.enqueue(
            Job(
                function=FUNCTION,
                key=session_id,
                kwargs={"session_id": session_id},
                timeout=0,
                heartbeat=math.ceil(self._lease_s),
                retries=RETRIES,
                ttl=FINISHED_TTL_S,
            )
        )

    async def depth(self) -> int:
        return await self._queue.count("queued")

    async def serve(self, run: RunSession, slots: int) -> None:
        """Run sessions until SIGTERM or SIGINT, then hand back the ones running here."""

        async def run_session(context: Context, *, session_id: str) -> None:
            job = context["job"]
            heartbeat: Heartbeat = job.update
            await run(session_id, heartbeat)

        sweep_s = max(1, round(self._lease_s / 3))
        worker = Worker(
            self._queue,
            functions=[(FUNCTION, run_session)],
            concurrency=slots,
            timers={"sweep": sweep_s, "abort": 1, "schedule": 1, "worker_info": 10},
            # On stop every job is cancelled at once (its session handed back) and waited
            # for up to the shutdown time.
            shutdown_grace_period_s=None,
            cancellation_hard_deadline_s=self._shutdown_s,
        )
        await worker.start()

    async def aclose(self) -> None:
        try:
            await self._queue.disconnect()
        except Exception as error:  # Redis out of reach: there is nothing left to close
            logger.warning("disconnecting from the session queue failed: %s", error)
