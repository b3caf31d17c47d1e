"""Writing a training session's row: creating it, the user locks its writers take first,
its genre counts, and which server process runs it (heartbeats, and claims on the sessions
of a process that stopped); and how many sessions are in each status.

Its summed columns and model rows are written through models/totals.py, which keeps the
user's totals in step and describes the order in which every writer takes its locks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import table_of, utcnow
from models.engine import on_sqlite
from models.enums import Genre, SessionStatus, VotingStrategy
from models.errors import BadUserInput
from models.history import fine_tuning_examples_collected
from models.tables import SessionGenreCount, TrainingHistory, User
from models.totals import ModelScore, add_session


async def new_session(
    db: AsyncSession,
    user_id: int,
    *,
    session_id: str,
    status: SessionStatus,
    num_examples: int,
    genres: Sequence[Genre],
    teachers: Sequence[str],
    voting: VotingStrategy,
    seed: int,
    store_in_memory: bool,
    save_to_database: bool,
    max_cost_usd: float | None = None,
) -> TrainingHistory:
    """The session's row, before its first example, counted in its user's totals; flushed,
    and committed by the caller."""
    now = utcnow()
    history = TrainingHistory(
        user_id=user_id,
        session_id=session_id,
        num_examples_requested=num_examples,
        num_examples_successful=0,
        num_examples_failed=0,
        genres_selected=json.dumps([genre.name for genre in genres]),
        stored_in_memory=store_in_memory,
        saved_to_database=save_to_database,
        stories_saved_count=0,
        model_performance_json="{}",
        genre_distribution_json="{}",
        training_examples_before=await fine_tuning_examples_collected(db, user_id),
        fine_tuning_triggered=False,
        started_at=now,
        created_at=now,
        status=status,
        voting_strategy=voting,
        teachers_json=json.dumps(list(teachers)),
        fine_tuning_examples=0,
        seed=seed,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        max_cost_usd=max_cost_usd,
    )
    db.add(history)
    await db.flush()
    # Every teacher of the session has its row from the start, so leaderboards count the
    # sessions a model took part in, not only those it won.
    await add_session(db, history, {name: ModelScore(0, 0.0, 0, 0, 0.0) for name in teachers})
    return history


async def check_queue_room(db: AsyncSession, user_id: int, limit: int) -> None:
    """Raise BadUserInput when the user already has `limit` sessions waiting to run: one
    more would only wait behind them, and a user's queue is bounded."""
    queued = await db.scalar(
        select(func.count())
        .select_from(TrainingHistory)
        .where(TrainingHistory.user_id == user_id, TrainingHistory.status == SessionStatus.QUEUED)
    )
    if (queued or 0) >= limit:
        raise BadUserInput(
            f"You have {queued} sessions waiting to run, the most this server allows "
            f"(CHORUS_MAX_QUEUED_SESSIONS_PER_USER = {limit}); start or resume this one once "
            "one of them has started, or cancel one."
        )


async def sessions_by_status(
    db: AsyncSession, statuses: Sequence[SessionStatus]
) -> dict[SessionStatus, int]:
    """How many sessions are in each of `statuses` (0 for none), read through `idx_status`:
    cheap for the few that wait or run, not for the ended ones, which grow without bound."""
    rows = await db.execute(
        select(TrainingHistory.status, func.count())
        .where(TrainingHistory.status.in_(statuses))
        .group_by(TrainingHistory.status)
    )
    counts = dict.fromkeys(statuses, 0)
    counts.update(dict(rows.all()))
    return counts


async def stored_session(db: AsyncSession, history_id: int) -> TrainingHistory:
    """The session's row (the one `db` holds already, if it does)."""
    history = await db.get(TrainingHistory, history_id)
    assert history is not None, f"session {history_id} is not stored"
    return history


async def lock_user(db: AsyncSession, user_id: int) -> None:
    """Lock the user's row until commit, so that the user's writers that must take turns
    do; SQLite serialises writers by itself."""
    if not on_sqlite(db):
        await db.execute(select(User.id).where(User.id == user_id).with_for_update())


async def share_lock_owner(db: AsyncSession, history_id: int) -> None:
    """Share-lock the session's user's row before the session's, the recorder's order: a
    final status writes `completed_at`, in an index that starts with `user_id`, which
    MariaDB checks against the user's row; checked while holding the session's row, it
    would wait on a recorder that waits on the session: a deadlock."""
    if not on_sqlite(db):
        user_id = (
            select(TrainingHistory.user_id)
            .where(TrainingHistory.id == history_id)
            .scalar_subquery()
        )
        await db.execute(select(User.id).where(User.id == user_id).with_for_update(read=True))


async def write_genre_counts(
    db: AsyncSession, history_id: int, before: Mapping[Genre, int], after: Mapping[Genre, int]
) -> None:
    """The session's genre rows brought from `before` to `after`: one statement for the new
    genres and one for the changed, however many there are."""
    counts = table_of(SessionGenreCount)
    added = [
        {"history_id": history_id, "genre": genre, "count": count}
        for genre, count in after.items()
        if genre not in before
    ]
    changed = [
        {"key_history_id": history_id, "key_genre": genre, "count": count}
        for genre, count in after.items()
        if genre in before and before[genre] != count
    ]
    if added:
        await db.execute(insert(counts), added)
    if changed:
        by_key = update(counts).where(
            counts.c.history_id == bindparam("key_history_id"),
            counts.c.genre == bindparam("key_genre"),
        )
        await db.execute(by_key, changed)


def run_by(history: TrainingHistory, runner_id: str) -> None:
    """Make the session `runner_id`'s, alive as of now; written when `db` flushes."""
    history.runner_id = runner_id
    history.heartbeat_at = utcnow()


def requeue(history: TrainingHistory, runner_id: str) -> None:
    """Queue an ended session again, to be run by `runner_id`; written when `db` flushes."""
    history.status = SessionStatus.QUEUED
    run_by(history, runner_id)
    history.completed_at = None
    history.error = None


async def write_heartbeats(db: AsyncSession, history_ids: Sequence[int]) -> None:
    """Say that the sessions' process still runs them."""
    await db.execute(
        update(TrainingHistory)
        .where(TrainingHistory.id.in_(history_ids))
        .values(heartbeat_at=utcnow())
    )


def _orphaned(runner_id: str, stale_before: datetime) -> tuple[ColumnElement[bool], ...]:
    """Sessions left RUNNING or QUEUED by another process, with no heartbeat since
    `stale_before`."""
    return (
        TrainingHistory.status.in_([SessionStatus.RUNNING, SessionStatus.QUEUED]),
        or_(TrainingHistory.runner_id.is_(None), TrainingHistory.runner_id != runner_id),
        or_(TrainingHistory.heartbeat_at.is_(None), TrainingHistory.heartbeat_at < stale_before),
    )


async def orphaned_sessions(
    db: AsyncSession, runner_id: str, stale_before: datetime
) -> Sequence[TrainingHistory]:
    query = select(TrainingHistory).where(*_orphaned(runner_id, stale_before))
    return (await db.scalars(query)).all()


async def claim_orphan(
    db: AsyncSession, history_id: int, runner_id: str, stale_before: datetime
) -> bool:
    """Make an orphaned session `runner_id`'s; whether it was still orphaned. Claimed in one
    statement: when two servers recover at once, or the owner's heartbeat lands meanwhile,
    only one of them ends the session, if any does."""
    claimed = await db.execute(
        update(TrainingHistory)
        .where(TrainingHistory.id == history_id, *_orphaned(runner_id, stale_before))
        .values(runner_id=runner_id, heartbeat_at=utcnow())
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
