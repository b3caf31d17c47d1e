"""Training a session from start to end in this process: the command line and `/auto-train`."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import SessionStatus
from models.tables import TrainingHistory
from trainer.events import Emitter, EventSink
from trainer.latency import LatencyBook
from trainer.plan import SessionPlan
from trainer.recorder import create_session
from trainer.session import FineTuneQueue, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher


async def train(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    plan: SessionPlan,
    teachers: Mapping[str, Teacher],
    sink: EventSink,
    *,
    options: RunnerOptions = RunnerOptions(),
    fine_tuner: FineTuneQueue | None = None,
    latencies: LatencyBook | None = None,
) -> TrainingHistory:
    """Record a new session, run it to its end, and return its final record."""
    async with sessions() as db:
        history = await create_session(db, user_id, plan, status=SessionStatus.RUNNING)
        await db.commit()
    runner = SessionRunner(
        sessions,
        history.id,
        teachers,
        Emitter(history.session_id, sink),
        options=options,
        fine_tuner=fine_tuner,
        latencies=latencies,
    )
    await runner.run()
    async with sessions() as db:
        final = await db.get(TrainingHistory, history.id)
        assert final is not None
        return final
