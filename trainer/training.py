"""Training a session from start to end in this process: the command line."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import SessionStatus
from models.sessions import stored_session
from models.tables import TrainingHistory
from trainer.eventlog import EventLogWriter
from trainer.events import Emitter, EventSink, NumberedEvent
from trainer.latency import LatencyBook
from trainer.plan import SessionPlan
from trainer.recorder import create_session
from trainer.session import FineTuneQueue, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher


async def train(
    db: async_sessionmaker[AsyncSession],
    user_id: int,
    plan: SessionPlan,
    teachers: Mapping[str, Teacher],
    watch: Callable[[TrainingHistory], EventSink] | None = None,
    *,
    options: RunnerOptions = RunnerOptions(),
    fine_tuner: FineTuneQueue | None = None,
    latencies: LatencyBook | None = None,
) -> TrainingHistory:
    """Record a new session, run it to its end with its events in the log (and handed to
    the sink `watch` gives, when there is one), and return its final record."""
    async with db() as transaction:
        history = await create_session(transaction, user_id, plan, status=SessionStatus.RUNNING)
        await transaction.commit()
    log = EventLogWriter(db, history.id)
    sink: EventSink = log if watch is None else _Both(log, watch(history))
    runner = SessionRunner(
        db,
        history.id,
        teachers,
        Emitter(history.session_id, sink),
        options=options,
        fine_tuner=fine_tuner,
        latencies=latencies,
    )
    try:
        await runner.run()
    finally:
        await log.aclose()
    async with db() as transaction:
        return await stored_session(transaction, history.id)


class _Both:
    def __init__(self, log: EventLogWriter, watcher: EventSink) -> None:
        self._log = log
        self._watcher = watcher

    async def emit(self, event: NumberedEvent) -> None:
        await self._log.emit(event)
        await self._watcher.emit(event)
