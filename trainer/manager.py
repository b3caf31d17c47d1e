"""Sessions as the API sees them: recorded and queued by startTraining, cancelled and resumed
from any API process.

Workers run them (trainer/worker.py). The database says where each session stands, so any
API process answers for any session: a cancellation is written there for the session's
worker to act on, and its end is read back from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.enums import SessionStatus
from models.errors import Conflict, LeaseLost, NotFound
from models.events import last_seq
from models.history import session_by_id
from models.leases import claim_expired, request_cancel, requeue_interrupted
from models.sessions import stored_session
from models.tables import TrainingHistory, User
from trainer.eventlog import EventLogWriter, Publish
from trainer.events import Emitter, SessionFinished
from trainer.leases import Lease, new_owner_id
from trainer.plan import SessionPlan
from trainer.queue import SessionQueue
from trainer.recorder import create_session, set_status
from trainer.teachers.base import Teacher

logger = logging.getLogger("chorus.sessions")

# How long cancelTraining waits for the session's worker to end it: it looks twice a second.
CANCEL_WAIT_S = 10.0
POLL_S = 0.1


class SessionManager:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        teachers: Sequence[Teacher],
        queue: SessionQueue,
        *,
        publish: Publish | None = None,
        lease_s: float = 15.0,
    ) -> None:
        self._db = db
        self._teachers = list(teachers)
        self._queue = queue
        self._publish = publish
        self._lease_s = lease_s
        self._owner = new_owner_id()

    @property
    def teachers(self) -> list[Teacher]:
        return self._teachers

    async def start(self, user: User, plan: SessionPlan) -> TrainingHistory:
        """Record the session QUEUED and wake a worker for it."""
        async with self._db() as db:
            history = await create_session(db, user.id, plan, status=SessionStatus.QUEUED)
            await db.commit()
        await self._wake(history.session_id)
        return await self._reload(history.id)

    async def _wake(self, session_id: str) -> None:
        """Wake a worker for the session. The session is recorded already: should the queue
        be out of reach, the workers' scans find it once they can."""
        try:
            await self._queue.enqueue(session_id)
        except Exception as error:
            logger.warning("queueing session %s failed, the scans will: %s", session_id, error)

    async def resume(self, viewer: User, session_id: str) -> TrainingHistory:
        async with self._db() as db:
            history = await self._owned(db, viewer, session_id)
            if not await requeue_interrupted(db, history.id):
                raise Conflict(
                    f"Only an INTERRUPTED session can be resumed; {session_id} is "
                    f"{history.status.name}.",
                    field="sessionId",
                )
        await self._wake(session_id)
        return await self._reload(history.id)

    async def cancel(self, viewer: User, session_id: str) -> TrainingHistory:
        """End a QUEUED session CANCELLED at once; ask a RUNNING one's worker to stop it, and
        wait (a while) for it to have."""
        async with self._db() as db:
            history = await self._owned(db, viewer, session_id)
            if history.status.is_final:
                raise _nothing_to_cancel(session_id, history.status)
            history_id = history.id
            was = await request_cancel(db, history_id)
            if was.is_final:
                # It ended between the two reads (and the rollback expired `history`).
                raise _nothing_to_cancel(session_id, was)
        if was is SessionStatus.QUEUED:
            await self._log_finished(history, SessionStatus.CANCELLED)
        elif was is SessionStatus.RUNNING:
            await self._wait_cancelled(history)
        return await self._reload(history_id)

    async def _wait_cancelled(self, history: TrainingHistory) -> None:
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            now = await self._reload(history.id)
            if now.status.is_final:
                return
            if now.status is SessionStatus.QUEUED:
                # Handed back by a worker that was stopping before it saw the request.
                async with self._db() as db:
                    if await request_cancel(db, history.id) is SessionStatus.QUEUED:
                        await self._log_finished(history, SessionStatus.CANCELLED)
                        return
            # No worker holds it: nobody else would act on the request.
            unowned = now.lease_until is None or now.lease_until < utcnow()
            if unowned and await self._cancel_unowned(history):
                return
            await asyncio.sleep(POLL_S)

    async def _cancel_unowned(self, history: TrainingHistory) -> bool:
        """End a RUNNING session whose lease ran out CANCELLED here, as its owner for the
        moment; whether this process got to it first."""
        claimed_at = time.monotonic()
        async with self._db() as db:
            if await claim_expired(db, history.id, self._owner, self._lease_s) is None:
                return False
        lease = Lease(history.id, self._owner, self._lease_s, claimed_at=claimed_at)
        try:
            async with self._db() as db:
                await set_status(db, history.id, SessionStatus.CANCELLED, owner=self._owner)
        except LeaseLost:
            return False
        await self._log_finished(history, SessionStatus.CANCELLED, lease)
        return True

    async def _log_finished(
        self, history: TrainingHistory, status: SessionStatus, lease: Lease | None = None
    ) -> None:
        """Close the stream of a session that ended here, not on a worker."""
        async with self._db() as db:
            seq = await last_seq(db, history.id)
        writer = EventLogWriter(self._db, history.id, self._publish, lease=lease)
        try:
            await Emitter(history.session_id, writer, last_seq=seq).emit(
                SessionFinished(status=status)
            )
        finally:
            await writer.aclose()

    async def wait(self, history_id: int) -> None:
        """Until the session has ended, wherever it runs."""
        while not (await self._reload(history_id)).status.is_final:  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    async def _owned(self, db: AsyncSession, viewer: User, session_id: str) -> TrainingHistory:
        history = await session_by_id(db, session_id)
        if history is None or (history.user_id != viewer.id and not viewer.is_admin):
            raise NotFound(f"No training session {session_id!r}.", field="sessionId")
        return history

    async def _reload(self, history_id: int) -> TrainingHistory:
        async with self._db() as db:
            return await stored_session(db, history_id)


def _nothing_to_cancel(session_id: str, status: SessionStatus) -> Conflict:
    return Conflict(
        f"Session {session_id} has already ended ({status.name}); there is nothing to cancel.",
        field="sessionId",
    )
