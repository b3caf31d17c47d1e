"""The event log of sessions: what subscribers replay, in seq order.

The log stores each event as its type's name and its fields; what they mean is the
trainer's (`trainer.events`), which turns them back into typed events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import table_of
from models.enums import SessionStatus
from models.tables import EventRow, TrainingHistory


class StoredEvent(NamedTuple):
    """One event of a session's log: its type's name and its fields, as stored."""

    seq: int
    type: str
    at: datetime
    payload: dict[str, Any]


_COLUMNS = (EventRow.seq, EventRow.type, EventRow.at, EventRow.payload)


async def append_events(db: AsyncSession, history_id: int, events: Sequence[StoredEvent]) -> None:
    if events:
        await db.execute(
            insert(table_of(EventRow)),
            [
                {
                    "history_id": history_id,
                    "seq": event.seq,
                    "type": event.type,
                    "payload": event.payload,
                    "at": event.at,
                }
                for event in events
            ],
        )


async def events_after(
    db: AsyncSession, history_id: int, after_seq: int, limit: int = 1000
) -> list[StoredEvent]:
    rows = await db.execute(
        select(*_COLUMNS)
        .where(EventRow.history_id == history_id, EventRow.seq > after_seq)
        .order_by(EventRow.seq)
        .limit(limit)
    )
    return [StoredEvent._make(row) for row in rows]


async def newest_event(db: AsyncSession, history_id: int) -> StoredEvent | None:
    row = (
        await db.execute(
            select(*_COLUMNS)
            .where(EventRow.history_id == history_id)
            .order_by(EventRow.seq.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else StoredEvent._make(row)


async def last_seq(db: AsyncSession, history_id: int) -> int:
    value = await db.scalar(select(func.max(EventRow.seq)).where(EventRow.history_id == history_id))
    return int(value or 0)


async def prune_events(db: AsyncSession, finished_before: datetime) -> int:
    """Delete the events of sessions finished before the cutoff; their records stay."""
    old = select(TrainingHistory.id).where(
        TrainingHistory.completed_at < finished_before,
        TrainingHistory.status.not_in([SessionStatus.QUEUED, SessionStatus.RUNNING]),
    )
    result = await db.execute(delete(EventRow).where(EventRow.history_id.in_(old)))
    await db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
