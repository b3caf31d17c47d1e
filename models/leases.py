"""Which worker runs a session, and until when: claiming sessions, renewing and handing back
leases, the fence every write of a running session passes, cancellation requests, and the
scans that find work nobody is doing.

A session is QUEUED, RUNNING under a lease (`lease_owner` until `lease_until`), or finished.
Each function here is one transaction, committed before it returns, on SQLite and MariaDB
alike. The changes that decide whether a user has room (a session leaving or joining
RUNNING) first take the user's row: MariaDB's `FOR UPDATE`, or on SQLite the one write lock
a no-op write takes, so two workers deciding at once take turns and the per-user limit holds
across all of them.

Instants compare the worker's clock with the ones other workers wrote: leases assume the
machines' clocks agree to well within a lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.engine import on_sqlite
from models.enums import SessionStatus
from models.errors import LeaseLost
from models.sessions import lock_user, set_status
from models.tables import EventStream, TrainingHistory, User

_History = TrainingHistory
SCAN_LIMIT = 100


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _take_user(db: AsyncSession, user_id: int) -> None:
    """Hold the user's row until commit, on SQLite too: a no-op write there takes the
    database's write lock before the transaction reads anything."""
    if on_sqlite(db):
        await db.execute(
            update(User)
            .where(User.id == user_id)
            .values(id=User.id)
            .execution_options(synchronize_session=False)
        )
    else:
        await lock_user(db, user_id)


async def _hand_events_to(db: AsyncSession, history_id: int, owner: str | None) -> None:
    """Who may append to the session's log follows its lease (`fence`)."""
    await db.execute(
        update(EventStream)
        .where(EventStream.history_id == history_id)
        .values(writer=owner)
        .execution_options(synchronize_session=False)
    )


async def fence(db: AsyncSession, history_id: int, owner: str) -> None:
    """Go on with this transaction, a write to the session's event log, only while `owner`
    holds the session's lease: else LeaseLost, the transaction rolled back. A write of the
    log's own row (`EventStream`) that changes nothing, so it holds that row (and on SQLite
    the write lock) until commit: no claim comes in between, and it waits for no other write
    of the session."""
    held = await db.execute(
        update(EventStream)
        .where(EventStream.history_id == history_id, EventStream.writer == owner)
        .values(writer=owner)
        .execution_options(synchronize_session=False)
    )
    if _rows(held) != 1:
        await db.rollback()
        raise LeaseLost(f"session {history_id} is no longer {owner}'s")


async def claim_queued(
    db: AsyncSession, history_id: int, owner: str, lease_s: float, max_running: int
) -> bool:
    """Start a QUEUED session under `owner`'s lease, if it is its user's oldest QUEUED one and
    the user runs fewer than `max_running`; whether it did."""
    user_id = await db.scalar(select(_History.user_id).where(_History.id == history_id))
    if user_id is None:
        return False
    await _take_user(db, user_id)
    head = await db.scalar(
        select(func.min(_History.id)).where(
            _History.user_id == user_id, _History.status == SessionStatus.QUEUED
        )
    )
    running = await db.scalar(
        select(func.count()).where(
            _History.user_id == user_id, _History.status == SessionStatus.RUNNING
        )
    )
    if head != history_id or (running or 0) >= max_running:
        await db.rollback()
        return False
    now = utcnow()
    claimed = await db.execute(
        update(_History)
        .where(_History.id == history_id, _History.status == SessionStatus.QUEUED)
        .values(
            status=SessionStatus.RUNNING,
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if _rows(claimed) == 1:
        await _hand_events_to(db, history_id, owner)
    await db.commit()
    return _rows(claimed) == 1


async def claim_expired(
    db: AsyncSession, history_id: int, owner: str, lease_s: float
) -> int | None:
    """Take a RUNNING session whose lease has run out over for `owner`: its takeovers so far,
    this one counted, or None when it was not there to take."""
    now = utcnow()
    claimed = await db.execute(
        update(_History)
        .where(
            _History.id == history_id,
            _History.status == SessionStatus.RUNNING,
            (_History.lease_until.is_(None)) | (_History.lease_until < now),
        )
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            takeovers=_History.takeovers + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if _rows(claimed) != 1:
        await db.rollback()
        return None
    await _hand_events_to(db, history_id, owner)
    takeovers = await db.scalar(select(_History.takeovers).where(_History.id == history_id))
    await db.commit()
    return int(takeovers or 0)


async def renew(
    db: AsyncSession, owner: str, history_ids: Sequence[int], lease_s: float
) -> set[int]:
    """Extend `owner`'s leases on the sessions; the ones it still held (and so renewed)."""
    if not history_ids:
        return set()
    held = (
        _History.lease_owner == owner,
        _History.id.in_(history_ids),
        _History.status == SessionStatus.RUNNING,
    )
    renewed = await db.execute(
        update(_History)
        .where(*held)
        .values(lease_until=utcnow() + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    if _rows(renewed) == len(history_ids):
        await db.commit()
        return set(history_ids)
    still = set(await db.scalars(select(_History.id).where(*held)))
    await db.commit()
    return still


async def release(db: AsyncSession, history_id: int, owner: str) -> SessionStatus | None:
    """Hand a running session back to the queue, at once, for another worker to go on with:
    QUEUED. One that cancelTraining asked to stop ends CANCELLED instead, here and now: no
    worker should claim it only to stop it. None when `owner` no longer held it."""
    user_id = await db.scalar(select(_History.user_id).where(_History.id == history_id))
    if user_id is None:
        return None
    # The user's row first, as cancelTraining takes it: a cancel comes before or after.
    await _take_user(db, user_id)
    held = (
        _History.id == history_id,
        _History.lease_owner == owner,
        _History.status == SessionStatus.RUNNING,
    )
    cancelling = await db.scalar(select(_History.cancel_requested).where(*held))
    if cancelling is None:
        await db.rollback()
        return None
    if cancelling:
        try:
            await set_status(db, history_id, SessionStatus.CANCELLED, owner=owner)
        except LeaseLost:
            return None  # taken over since, its lease run out
        return SessionStatus.CANCELLED
    released = await db.execute(
        update(_History)
        .where(*held)
        .values(
            status=SessionStatus.QUEUED, lease_owner=None, lease_until=None, updated_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    if _rows(released) != 1:
        await db.rollback()
        return None  # taken over since, its lease run out
    await _hand_events_to(db, history_id, None)
    await db.commit()
    return SessionStatus.QUEUED


async def request_cancel(db: AsyncSession, history_id: int) -> SessionStatus:
    """Cancel the session: a QUEUED one ends CANCELLED here and now, a RUNNING one is asked
    to stop (its worker sees `cancel_requested`). The status it had."""
    user_id = await db.scalar(select(_History.user_id).where(_History.id == history_id))
    if user_id is None:
        raise LookupError(f"session {history_id} is not stored")
    await _take_user(db, user_id)
    status = await db.scalar(select(_History.status).where(_History.id == history_id))
    assert status is not None
    if status is SessionStatus.QUEUED:
        await set_status(db, history_id, SessionStatus.CANCELLED)
    elif status is SessionStatus.RUNNING:
        await db.execute(
            update(_History)
            .where(_History.id == history_id)
            .values(cancel_requested=True, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await db.commit()
    else:
        await db.rollback()
    return status


async def requeue_interrupted(db: AsyncSession, history_id: int) -> bool:
    """Queue an INTERRUPTED session again, as new to takeovers; whether it was INTERRUPTED."""
    user_id = await db.scalar(select(_History.user_id).where(_History.id == history_id))
    if user_id is None:
        return False
    await _take_user(db, user_id)
    requeued = await db.execute(
        update(_History)
        .where(_History.id == history_id, _History.status == SessionStatus.INTERRUPTED)
        .values(
            status=SessionStatus.QUEUED,
            lease_owner=None,
            lease_until=None,
            takeovers=0,
            cancel_requested=False,
            completed_at=None,
            error=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if _rows(requeued) == 1:
        await _hand_events_to(db, history_id, None)
    await db.commit()
    return _rows(requeued) == 1


async def cancel_requested(db: AsyncSession, owner: str) -> list[int]:
    """The sessions `owner` runs that cancelTraining asked to stop."""
    return list(
        await db.scalars(
            select(_History.id).where(
                _History.status == SessionStatus.RUNNING,
                _History.lease_owner == owner,
                _History.cancel_requested,
            )
        )
    )


async def expired_sessions(db: AsyncSession, now: datetime | None = None) -> list[str]:
    """RUNNING sessions whose lease has run out: their worker died, hung or lost the
    database for longer than a lease."""
    now = now or utcnow()
    return list(
        await db.scalars(
            select(_History.session_id)
            .where(
                _History.status == SessionStatus.RUNNING,
                (_History.lease_until.is_(None)) | (_History.lease_until < now),
            )
            .order_by(_History.id)
            .limit(SCAN_LIMIT)
        )
    )


async def queue_heads(db: AsyncSession, max_running: int, user_id: int | None = None) -> list[str]:
    """The oldest QUEUED session of each user (or of one) who runs fewer than `max_running`:
    the sessions a worker may claim now."""
    scope = () if user_id is None else (_History.user_id == user_id,)
    heads = await db.execute(
        select(_History.user_id, func.min(_History.id))
        .where(_History.status == SessionStatus.QUEUED, *scope)
        .group_by(_History.user_id)
        .limit(SCAN_LIMIT)
    )
    head_of: dict[int, int] = dict(heads.all())
    if not head_of:
        return []
    running = await db.execute(
        select(_History.user_id, func.count())
        .where(_History.status == SessionStatus.RUNNING, _History.user_id.in_(head_of))
        .group_by(_History.user_id)
    )
    running_of: dict[int, int] = dict(running.all())
    with_room = [head for user, head in head_of.items() if running_of.get(user, 0) < max_running]
    if not with_room:
        return []
    return list(
        await db.scalars(
            select(_History.session_id).where(_History.id.in_(with_room)).order_by(_History.id)
        )
    )
