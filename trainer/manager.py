"""Sessions started through the API: queued per user, run in the background, cancelled,
resumed, and recovered when the process that ran them died.

Every task started here is owned here: `aclose()` cancels the runners (their sessions end
INTERRUPTED, to be resumed) and awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.enums import SessionStatus
from models.errors import Conflict, NotFound
from models.events import last_seq
from models.history import session_by_id
from models.sessions import (
    claim_orphan,
    orphaned_sessions,
    requeue,
    run_by,
    stored_session,
    write_heartbeats,
)
from models.tables import TrainingHistory, User
from trainer.eventlog import EventLogWriter, Publish
from trainer.events import Emitter, NumberedEvent, SessionFinished
from trainer.latency import LatencyBook
from trainer.plan import SessionPlan
from trainer.recorder import create_session, set_status
from trainer.session import FineTuneQueue, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher

logger = logging.getLogger("chorus.sessions")

CANCEL_WAIT_S = 30.0
# A server's sessions are INTERRUPTED by the others after this many heartbeats go missing:
# generous, because a server busy enough to be late must not lose its sessions.
MISSED_BEATS = 6
SendControl = Callable[[dict[str, object]], Awaitable[bool]]


class SessionManager:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        teachers: Sequence[Teacher],
        *,
        publish: Publish | None = None,
        send_control: SendControl | None = None,
        options: RunnerOptions = RunnerOptions(),
        max_running_per_user: int = 2,
        fine_tuner: FineTuneQueue | None = None,
        latencies: LatencyBook | None = None,
        heartbeat_s: float = 10.0,
    ) -> None:
        self._db = db
        self._teachers = {teacher.name: teacher for teacher in teachers}
        self._publish = publish
        self._send_control = send_control
        self._options = options
        self._max_running = max_running_per_user
        self._fine_tuner = fine_tuner
        self.latencies = latencies or LatencyBook()
        self._heartbeat_s = heartbeat_s
        self.runner_id = uuid.uuid4().hex
        self._running: dict[int, tuple[int, SessionRunner, asyncio.Task[None]]] = {}
        self._queued: dict[int, deque[int]] = {}
        self._finished: dict[int, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def teachers(self) -> list[Teacher]:
        return list(self._teachers.values())

    async def start_background(self) -> None:
        """Recover sessions of dead processes now, then keep heartbeats and recovery going."""
        await self.recover()
        self._keeper = asyncio.create_task(self._keep())

    async def start(self, user: User, plan: SessionPlan) -> TrainingHistory:
        """Record the session and start it, or queue it behind the user's running ones."""
        async with self._lock:
            async with self._db() as db:
                history = await create_session(db, user.id, plan, status=SessionStatus.QUEUED)
                run_by(history, self.runner_id)
                await db.commit()
            self._finished[history.id] = asyncio.Event()
            self._queued.setdefault(user.id, deque()).append(history.id)
            await self._start_next(user.id)
        return await self._reload(history.id)

    async def resume(self, viewer: User, session_id: str) -> TrainingHistory:
        async with self._lock:
            async with self._db() as db:
                history = await self._owned(db, viewer, session_id)
                if history.status is not SessionStatus.INTERRUPTED:
                    raise Conflict(
                        f"Only an INTERRUPTED session can be resumed; {session_id} is "
                        f"{history.status.name}.",
                        field="sessionId",
                    )
                requeue(history, self.runner_id)
                await db.commit()
                user_id = history.user_id
            self._finished[history.id] = asyncio.Event()
            self._queued.setdefault(user_id, deque()).append(history.id)
            await self._start_next(user_id)
        return await self._reload(history.id)

    async def cancel(self, viewer: User, session_id: str) -> TrainingHistory:
        async with self._db() as db:
            history = await self._owned(db, viewer, session_id)
        if history.status.is_final:
            raise Conflict(
                f"Session {session_id} has already ended ({history.status.name}); there is "
                "nothing to cancel.",
                field="sessionId",
            )
        if not await self._cancel_here(history.id, history.user_id):
            if self._send_control is None or history.runner_id == self.runner_id:
                raise Conflict(f"Session {session_id} is not running in any server.")
            if not await self._send_control({"cancel": history.session_id}):
                raise Conflict(
                    f"Session {session_id} runs in another server process, and the broadcast "
                    "that would reach it is down; try again when it is back.",
                    field="sessionId",
                )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CANCEL_WAIT_S):
                await self.wait(history.id)
        return await self._reload(history.id)

    async def on_control(self, message: dict[str, object]) -> None:
        """A request from another process: cancel a session if it runs here."""
        session_id = message.get("cancel")
        if isinstance(session_id, str):
            async with self._db() as db:
                history = await session_by_id(db, session_id)
            if history is not None:
                await self._cancel_here(history.id, history.user_id)

    async def _cancel_here(self, history_id: int, user_id: int) -> bool:
        async with self._lock:
            queue = self._queued.get(user_id)
            if queue is not None and history_id in queue:
                queue.remove(history_id)
                await self._end_without_running(history_id, SessionStatus.CANCELLED)
                return True
            running = self._running.get(history_id)
        if running is None:
            return False
        running[1].cancel()
        return True

    async def wait(self, history_id: int) -> None:
        """Until the session has ended, here or (polling the database) in another process."""
        finished = self._finished.get(history_id)
        if finished is not None:
            await finished.wait()
            return
        # Another process runs it: only the database can tell when it ends.
        while not (await self._reload(history_id)).status.is_final:  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    async def wait_idle(self) -> None:
        """Until every session here has ended, queued ones included."""
        while self._running:
            await asyncio.gather(
                *(task for _, _, task in self._running.values()), return_exceptions=True
            )

    async def _start_next(self, user_id: int) -> None:
        """Start the user's queued sessions while they have room (called under the lock)."""
        queue = self._queued.get(user_id)
        while queue and self._count_running(user_id) < self._max_running and not self._closing:
            history_id = queue.popleft()
            await self._launch(user_id, history_id)

    def _count_running(self, user_id: int) -> int:
        return sum(1 for owner, _, _ in self._running.values() if owner == user_id)

    async def _launch(self, user_id: int, history_id: int) -> None:
        async with self._db() as db:
            history = await stored_session(db, history_id)
            seq = await last_seq(db, history_id)
            # RUNNING from the moment it has a runner, so that startTraining says so.
            await set_status(db, history_id, SessionStatus.RUNNING)
        writer = EventLogWriter(self._db, history_id, self._publish)
        runner = SessionRunner(
            self._db,
            history_id,
            self._teachers,
            Emitter(history.session_id, writer, last_seq=seq),
            options=self._options,
            fine_tuner=self._fine_tuner,
            latencies=self.latencies,
        )
        task = asyncio.create_task(self._run(user_id, history_id, runner, writer))
        self._running[history_id] = (user_id, runner, task)

    async def _run(
        self, user_id: int, history_id: int, runner: SessionRunner, writer: EventLogWriter
    ) -> None:
        try:
            await runner.run()
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("session %s stopped unexpectedly", history_id)
        finally:
            await asyncio.shield(writer.aclose())
            self._running.pop(history_id, None)
            finished = self._finished.pop(history_id, None)
            if finished is not None:
                finished.set()
            if not self._closing:
                async with self._lock:
                    await self._start_next(user_id)

    async def _end_without_running(self, history_id: int, status: SessionStatus) -> None:
        """End a session that is not running: its status, and a SessionFinished to close its
        stream."""
        async with self._db() as db:
            history = await stored_session(db, history_id)
            await set_status(db, history_id, status)
            seq = await last_seq(db, history_id)
        writer = EventLogWriter(self._db, history_id, self._publish)
        await writer.emit(
            NumberedEvent(history.session_id, seq + 1, utcnow(), SessionFinished(status=status))
        )
        await writer.aclose()
        finished = self._finished.pop(history_id, None)
        if finished is not None:
            finished.set()

    async def recover(self) -> list[str]:
        """Mark INTERRUPTED the sessions left RUNNING or QUEUED by a process that stopped
        sending heartbeats; their finished examples and aggregates stay as they are."""
        stale = utcnow() - timedelta(seconds=MISSED_BEATS * self._heartbeat_s)
        async with self._db() as db:
            candidates = await orphaned_sessions(db, self.runner_id, stale)
            orphans = []
            for candidate in candidates:
                claimed = await claim_orphan(db, candidate.id, self.runner_id, stale)
                await db.commit()
                if claimed:
                    orphans.append(candidate)
        recovered = []
        for orphan in orphans:
            logger.warning(
                "session %s was left %s by a server that stopped; it is INTERRUPTED and can be "
                "resumed",
                orphan.session_id,
                orphan.status.name,
            )
            await self._end_without_running(orphan.id, SessionStatus.INTERRUPTED)
            recovered.append(orphan.session_id)
        return recovered

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._beat()
                await self.recover()
            except Exception:
                logger.exception("session heartbeat or recovery failed; trying again")

    async def _beat(self) -> None:
        owned = list(self._running) + [i for queue in self._queued.values() for i in queue]
        if not owned:
            return
        async with self._db() as db:
            await write_heartbeats(db, owned)
            await db.commit()

    async def _owned(self, db: AsyncSession, viewer: User, session_id: str) -> TrainingHistory:
        history = await session_by_id(db, session_id)
        if history is None or (history.user_id != viewer.id and not viewer.is_admin):
            raise NotFound(f"No training session {session_id!r}.", field="sessionId")
        return history

    async def _reload(self, history_id: int) -> TrainingHistory:
        async with self._db() as db:
            return await stored_session(db, history_id)

    async def aclose(self) -> None:
        """Stop every session here: each ends INTERRUPTED with its finished examples kept."""
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        tasks = [task for _, _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self._queued.values():
            for history_id in list(queue):
                await self._end_without_running(history_id, SessionStatus.INTERRUPTED)
            queue.clear()
