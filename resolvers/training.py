"""Resolvers that start, cancel and resume sessions, and estimate what one takes."""

from __future__ import annotations

from collections.abc import Sequence

from models.enums import Genre, VotingStrategy
from models.history import session_by_id
from models.latencies import recent_latencies_ms
from models.sessions import check_queue_room
from models.tables import TrainingHistory
from resolvers.context import Info
from trainer.estimate import ASSUMED_LATENCY_MS, Estimate, estimate
from trainer.plan import make_plan
from trainer.teachers.base import Teacher


async def start_training(
    info: Info,
    *,
    num_examples: int,
    genres: Sequence[Genre],
    teachers: Sequence[str] | None,
    voting: VotingStrategy | None,
    seed: int | None,
    store_in_memory: bool,
    save_to_database: bool,
    max_cost_usd: float | None = None,
) -> TrainingHistory:
    services = info.context.services
    manager = services.manager
    plan = make_plan(
        manager.teachers,
        num_examples=num_examples,
        genres=genres,
        teachers=teachers,
        voting=voting,
        seed=seed,
        store_in_memory=store_in_memory,
        save_to_database=save_to_database,
        max_cost_usd=max_cost_usd,
    )
    viewer = info.context.viewer
    async with info.context.db() as db:
        await check_queue_room(db, viewer.id, services.settings.max_queued_sessions_per_user)
    return await manager.start(viewer, plan)


async def cancel_training(info: Info, session_id: str) -> TrainingHistory:
    return await info.context.services.manager.cancel(info.context.viewer, session_id)


async def resume_training(info: Info, session_id: str) -> TrainingHistory:
    services, viewer = info.context.services, info.context.viewer
    async with info.context.db() as db:
        # A resumed session waits in its owner's queue; another user's is not found below.
        resumed = await session_by_id(db, session_id)
        if resumed is not None and (resumed.user_id == viewer.id or viewer.is_admin):
            limit = services.settings.max_queued_sessions_per_user
            await check_queue_room(db, resumed.user_id, limit)
    return await services.manager.resume(viewer, session_id)


async def training_estimate(
    info: Info,
    num_examples: int,
    teachers: list[str] | None,
    voting: VotingStrategy | None,
) -> Estimate:
    """What a session would take: its time from the teachers' latencies in recent sessions
    (or a typical one) and their rate limits, its tokens and cost at most
    (trainer/estimate.py)."""
    services = info.context.services
    ensemble = services.manager.teachers
    plan = make_plan(ensemble, num_examples=num_examples, teachers=teachers, voting=voting)
    by_name = {teacher.name: teacher for teacher in ensemble}
    async with info.context.db() as db:
        observed_ms = await recent_latencies_ms(db)

    def latency_ms(teacher: Teacher) -> float:
        observed = observed_ms.get(teacher.name)
        if observed is not None:
            return observed
        if teacher.offline:
            return float(services.settings.offline_latency_ms)
        return ASSUMED_LATENCY_MS

    return estimate(
        [by_name[name] for name in plan.teachers],
        plan.voting,
        num_examples,
        latency_ms=latency_ms,
        max_concurrent_examples=services.settings.max_concurrent_examples,
    )
