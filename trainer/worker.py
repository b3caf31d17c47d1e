"""A worker: it takes sessions from the queue and runs them under leases, several at once.

`run_session` claims the session (a QUEUED one if it heads its user's queue and the user has
room; a RUNNING one whose lease has run out, waiting for that if it has not yet), runs it
from its recorded examples, ends it, and wakes the user's next QUEUED session. A keeper
renews the leases and passes on cancellations (trainer/leases.py); a scan, every third of a
lease, wakes what nobody is doing: RUNNING sessions whose lease ran out, and QUEUED ones at
the head of a user's queue whose user has room.

Cancelling a run from outside (the worker stopping) hands its session back at once (QUEUED,
for another worker to go on with; CANCELLED if cancelTraining asked to stop it) or, with
`hand_back=False`, ends it INTERRUPTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.enums import SessionStatus
from models.errors import LeaseLost, is_outage
from models.events import last_seq, newest_event
from models.history import session_by_id
from models.leases import (
    claim_expired,
    claim_queued,
    expired_sessions,
    queue_heads,
    release,
)
from models.tables import TrainingHistory
from trainer import metrics
from trainer.eventlog import EventLogWriter, Publish
from trainer.events import Emitter, SessionFinished
from trainer.leases import Lease, LeaseKeeper, new_owner_id, stop_between_statements
from trainer.queue import Heartbeat, SessionQueue
from trainer.recorder import plan_of, set_status
from trainer.session import FineTuneQueue, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher

logger = logging.getLogger("chorus.worker")

TAKEN_OVER = "the worker running it stopped renewing its lease"
HANDED_BACK = "the worker running it handed it back as it shut down"


@dataclass(frozen=True)
class WorkerOptions:
    sessions: int = 4
    lease_s: float = 15.0
    max_takeovers: int = 3
    max_running_per_user: int = 2
    # False (`chorus worker --no-takeover`): a session running when the worker stops ends
    # INTERRUPTED instead of being handed back.
    hand_back: bool = True
    runner: RunnerOptions = field(default_factory=RunnerOptions)

    @property
    def scan_s(self) -> float:
        return min(max(self.lease_s / 3, 0.5), 5.0)


@dataclass(frozen=True)
class _Claim:
    history: TrainingHistory
    claimed_at: float
    # Why the session goes on after another worker ran it; None for a (re)start.
    resumed: str | None
    takeovers: int


class SessionWorker:
    """Runs the sessions a queue hands it; `start()` and `aclose()` own its background tasks."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        teachers: Sequence[Teacher],
        queue: SessionQueue,
        *,
        options: WorkerOptions = WorkerOptions(),
        publish: Publish | None = None,
        fine_tuner: FineTuneQueue | None = None,
    ) -> None:
        self._db = db
        self._teachers: Mapping[str, Teacher] = {teacher.name: teacher for teacher in teachers}
        self._queue = queue
        self._options = options
        self._publish = publish
        self._fine_tuner = fine_tuner
        self.owner = new_owner_id()
        self._keeper = LeaseKeeper(db, self.owner, options.lease_s)
        self.running: dict[int, SessionRunner] = {}
        self._scanner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self._db

    async def start(self) -> None:
        self._keeper.start()
        self._scanner = asyncio.create_task(self._scan_periodically(), name="session scan")

    async def aclose(self) -> None:
        self._stopping.set()
        if self._scanner is not None:
            await stop_between_statements([self._scanner], self._options.scan_s)
        await self._keeper.aclose()

    async def run_session(self, session_id: str, heartbeat: Heartbeat | None = None) -> None:
        """Run the session if this worker can claim it; never raises but for cancellation."""
        try:
            claim = await self._claim(session_id)
        except Exception as error:
            if not is_outage(error):
                logger.exception("claiming session %s failed", session_id)
            else:
                logger.warning("cannot claim session %s now: %s", session_id, error)
            return
        if claim is None:
            return
        history = claim.history
        try:
            # Shielded, here and below: a short statement is not torn by a stopping worker.
            await asyncio.shield(self._queue_next(history.user_id))
            refusal = self._refusal(claim)
            lease = Lease(
                history.id,
                self.owner,
                self._options.lease_s,
                claimed_at=claim.claimed_at,
                heartbeat=heartbeat,
            )
            if refusal is not None:
                logger.warning("session %s is INTERRUPTED: %s", history.session_id, refusal)
                await self._end(history, lease, SessionStatus.INTERRUPTED, refusal)
            else:
                await self._run(claim, lease)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_outage(error):
                logger.warning("session %s stopped: %s", history.session_id, error)
            else:
                logger.exception("session %s stopped unexpectedly", history.session_id)
            return
        await asyncio.shield(self._queue_next(history.user_id))

    def _refusal(self, claim: _Claim) -> str | None:
        """Why this worker will not run the session it claimed; None when it will."""
        if claim.takeovers > self._options.max_takeovers:
            return (
                f"the workers running it stopped {claim.takeovers - 1} times; resume it with "
                "resumeTraining once they are stable"
            )
        missing = [name for name in plan_of(claim.history).teachers if name not in self._teachers]
        if missing:
            return (
                f"its teachers {', '.join(missing)} are not in this worker's ensemble; resume "
                "it with resumeTraining where they are"
            )
        return None

    async def _claim(self, session_id: str) -> _Claim | None:
        waited = False
        while True:
            async with self._db() as db:
                history = await session_by_id(db, session_id)
                if history is None or history.status.is_final or history.id in self.running:
                    return None
                newest = await newest_event(db, history.id)
                claimed_at = time.monotonic()
                # Started before: the log says so, and does not end with its SessionFinished.
                went_on = newest is not None and newest.type != SessionFinished.__name__
                if history.status is SessionStatus.QUEUED:
                    claimed = await claim_queued(
                        db,
                        history.id,
                        self.owner,
                        self._options.lease_s,
                        self._options.max_running_per_user,
                    )
                    if not claimed:
                        return None
                    return _Claim(history, claimed_at, HANDED_BACK if went_on else None, 0)
                until = history.lease_until
                left = 0.0 if until is None else (until - utcnow()).total_seconds()
                if left <= 0:
                    takeovers = await claim_expired(
                        db, history.id, self.owner, self._options.lease_s
                    )
                    if takeovers is None:
                        return None
                    logger.warning(
                        "session %s: taking it over from %s (takeover %d)",
                        session_id,
                        history.lease_owner,
                        takeovers,
                    )
                    return _Claim(history, claimed_at, TAKEN_OVER, takeovers)
            # Someone holds it still: a worker that died is only known by its lease running
            # out, so wait that out, once; a live owner will have renewed it by then.
            if waited or left > self._options.lease_s + 1:
                return None
            waited = True
            await asyncio.sleep(left + 0.05)

    async def _run(self, claim: _Claim, lease: Lease) -> None:
        history = claim.history
        async with self._db() as db:
            seq = await last_seq(db, history.id)
        writer = EventLogWriter(self._db, history.id, self._publish, lease=lease)
        runner = SessionRunner(
            self._db,
            history.id,
            self._teachers,
            Emitter(history.session_id, writer, last_seq=seq),
            options=self._options.runner,
            fine_tuner=self._fine_tuner,
            lease=lease,
            resumed=claim.resumed,
        )
        if not self._options.hand_back:
            runner.stop_status = SessionStatus.INTERRUPTED
        self._keeper.hold(lease)
        self.running[history.id] = runner
        metrics.set_worker_sessions(len(self.running))
        try:
            status = await runner.run()
            logger.info("session %s ended %s", history.session_id, status.name)
        except LeaseLost:
            logger.warning(
                "session %s is no longer this worker's; another worker goes on with it",
                history.session_id,
            )
        except asyncio.CancelledError:
            # Stopped from outside: finished examples are recorded; its events go in before
            # the session is handed back, so its next worker numbers on from them.
            await asyncio.shield(writer.aclose())
            if self._options.hand_back and not lease.lost:
                await asyncio.shield(self._hand_back(history, lease))
            raise
        finally:
            await asyncio.shield(writer.aclose())
            self._keeper.let_go(lease)
            self.running.pop(history.id, None)
            metrics.set_worker_sessions(len(self.running))

    async def _hand_back(self, history: TrainingHistory, lease: Lease) -> None:
        try:
            async with self._db() as db:
                handed = await release(db, history.id, lease.owner)
        except Exception as error:
            logger.warning(
                "handing session %s back failed (its lease runs out instead): %s",
                history.session_id,
                error,
            )
            return
        if handed is None:
            return
        logger.info("session %s handed back: %s", history.session_id, handed.name)
        if handed is SessionStatus.CANCELLED:
            # cancelTraining came before the keeper passed it on: the session ends here.
            try:
                await self._close_stream(history, lease, handed)
            except Exception as error:
                logger.warning(
                    "session %s ended CANCELLED, but its SessionFinished was not logged: %s",
                    history.session_id,
                    error,
                )

    async def _end(
        self, history: TrainingHistory, lease: Lease, status: SessionStatus, error: str
    ) -> None:
        """End a claimed session without running it."""
        async with self._db() as db:
            await set_status(db, history.id, status, error=error, owner=lease.owner)
        await self._close_stream(history, lease, status)

    async def _close_stream(
        self, history: TrainingHistory, lease: Lease, status: SessionStatus
    ) -> None:
        """The SessionFinished that closes the event stream of a session that just ended."""
        async with self._db() as db:
            seq = await last_seq(db, history.id)
        writer = EventLogWriter(self._db, history.id, self._publish, lease=lease)
        try:
            await Emitter(history.session_id, writer, last_seq=seq).emit(
                SessionFinished(status=status)
            )
        finally:
            await writer.aclose()

    async def _queue_next(self, user_id: int) -> None:
        """Wake the user's next QUEUED session, if the user has room for it now."""
        try:
            async with self._db() as db:
                heads = await queue_heads(db, self._options.max_running_per_user, user_id)
            for session_id in heads:
                await self._queue.enqueue(session_id)
        except Exception as error:
            logger.warning("waking the next session of user %d failed: %s", user_id, error)

    async def scan(self) -> None:
        """Wake the sessions nobody is doing: RUNNING ones whose lease ran out, QUEUED ones
        at the head of a user's queue whose user has room."""
        async with self._db() as db:
            expired = await expired_sessions(db)
            heads = await queue_heads(db, self._options.max_running_per_user)
        for session_id in expired + heads:
            await self._queue.enqueue(session_id)

    async def _scan_periodically(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.scan()
            except Exception as error:
                logger.warning("scanning for sessions to run failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._options.scan_s)
