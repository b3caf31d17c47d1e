"""Writing a training session's row: creating it, the user locks its writers take first,
its status and its genre counts, and how many sessions are in each status. Which worker
runs it is models/leases.py's.

Its summed columns and model rows are written through models/totals.py, which keeps the
user's totals in step and describes the order in which every writer takes its locks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import table_of, utcnow
from models.engine import on_sqlite
from models.enums import EndReason, Genre, SessionStatus, VotingStrategy
from models.errors import BadUserInput
from models.history import fine_tuning_examples_collected
from models.tables import EventStream, SessionGenreCount, TrainingHistory, User
from models.totals import ModelScore, add_session, locked_session, update_session


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
    lease_owner: str | None = None,
    lease_until: datetime | None = None,
) -> TrainingHistory:
    """The session's row, before its first example, counted in its user's totals; flushed,
    and committed by the caller. A session run at once is created with its lease."""
    # The user's row first, as the recorder and the workers' claims take it: a session
    # created while another of the user's is being recorded or finished waits for that
    # transaction instead of taking locks in another order (its model rows, then the
    # user's totals), which MariaDB ended as a deadlock.
    await lock_user(db, user_id)
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
        lease_owner=lease_owner,
        lease_until=lease_until,
        takeovers=0,
        cancel_requested=False,
    )
    db.add(history)
    await db.flush()
    db.add(EventStream(history_id=history.id, writer=lease_owner))
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
    """The session's genre rows brought from `before` to `after`: one INSERT for the new
    genres and one UPDATE for the changed, however many there are (not an executemany of
    UPDATEs, which the MySQL drivers send one statement at a time)."""
    counts = table_of(SessionGenreCount)
    added = [
        {"history_id": history_id, "genre": genre, "count": count}
        for genre, count in after.items()
        if genre not in before
    ]
    changed = {
        genre: count for genre, count in after.items() if genre in before and before[genre] != count
    }
    if added:
        await db.execute(insert(counts), added)
    if changed:
        await db.execute(
            update(counts)
            .where(counts.c.history_id == history_id, counts.c.genre.in_(list(changed)))
            .values(count=case(*((counts.c.genre == genre, n) for genre, n in changed.items())))
        )


async def set_status(
    db: AsyncSession,
    history_id: int,
    status: SessionStatus,
    *,
    error: str | None = None,
    end_reason: EndReason | None = None,
    owner: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move the session to `status` and commit; a final status sets its completion time,
    duration and why it ended. With `owner`, only while that worker holds the session's lease (else
    LeaseLost, and nothing is written)."""
    now = now or utcnow()
    if status.is_final:
        # The user's row before the session's, as the recorder takes them: MariaDB checks
        # `completed_at`'s index against the user's row.
        await share_lock_owner(db, history_id)
    history = await locked_session(db, history_id)
    values: dict[str, object] = {"status": status, "updated_at": now, "error": error}
    if status.is_final:
        values["end_reason"] = end_reason
        values["completed_at"] = now
        values["total_time_seconds"] = max(0, round((now - history.started_at).total_seconds()))
        if history.training_examples_after is None:
            values["training_examples_after"] = history.training_examples_before
    await update_session(db, history, values, owner=owner)
    await db.commit()
