"""Training a session from start to end in this process: the command line.

The session is created RUNNING under this process's own lease, renewed while it runs, so
that cancelTraining reaches it and, should the process die, a worker takes it over like any
other. Stopped from outside (Ctrl-C), it ends INTERRUPTED, to be resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import SessionStatus
from models.errors import LeaseLost
from models.sessions import stored_session
from models.tables import TrainingHistory
from trainer.eventlog import EventLogWriter
from trainer.events import Emitter, EventSink, NumberedEvent
from trainer.leases import Lease, LeaseKeeper, new_owner_id
from trainer.plan import SessionPlan
from trainer.recorder import create_leased_session
from trainer.session import FineTuneQueue, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher

LEASE_S = 15.0


async def train(
    db: async_sessionmaker[AsyncSession],
    user_id: int,
    plan: SessionPlan,
    teachers: Mapping[str, Teacher],
    watch: Callable[[TrainingHistory], EventSink] | None = None,
    *,
    options: RunnerOptions = RunnerOptions(),
    fine_tuner: FineTuneQueue | None = None,
    lease_s: float = LEASE_S,
) -> TrainingHistory:
    """Record a new session, run it to its end with its events in the log (and handed to
    the sink `watch` gives, when there is one), and return its final record."""
    keeper = LeaseKeeper(db, new_owner_id(), lease_s)
    claimed_at = time.monotonic()
    async with db() as transaction:
        history = await create_leased_session(transaction, user_id, plan, keeper.owner, lease_s)
        await transaction.commit()
    lease = Lease(history.id, keeper.owner, lease_s, claimed_at=claimed_at)
    log = EventLogWriter(db, history.id, lease=lease)
    sink: EventSink = log if watch is None else _Both(log, watch(history))
    runner = SessionRunner(
        db,
        history.id,
        teachers,
        Emitter(history.session_id, sink),
        options=options,
        fine_tuner=fine_tuner,
        lease=lease,
    )
    runner.stop_status = SessionStatus.INTERRUPTED
    keeper.hold(lease)
    keeper.start()
    try:
        await runner.run()
    except LeaseLost:
        # Another process took the session over while this one stalled: it is theirs now.
        pass
    finally:
        await log.aclose()
        await keeper.aclose()
    async with db() as transaction:
        return await stored_session(transaction, history.id)


class _Both:
    def __init__(self, log: EventLogWriter, watcher: EventSink) -> None:
        self._log = log
        self._watcher = watcher

    async def emit(self, event: NumberedEvent) -> None:
        await self._log.emit(event)
        await self._watcher.emit(event)
