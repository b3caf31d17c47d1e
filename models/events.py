"""The event log of sessions: what subscribers replay, in seq order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import table_of
from models.enums import SessionStatus
from models.tables import EventRow, TrainingHistory

EVENT_TYPES = (
    "SessionStarted",
    "ExampleStarted",
    "TeacherResponded",
    "VoteCast",
    "ExampleScored",
    "ExampleFailed",
    "SessionProgress",
    "FineTuningTriggered",
    "SessionFinished",
)


@dataclass(frozen=True)
class TrainingEvent:
    """One event of a session. `payload` holds the GraphQL event type's own fields."""

    session_id: str
    seq: int
    type: str
    at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    # What readers derive from the event (its GraphQL object), made once for all who hold
    # this object rather than once each; not part of the event's value.
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_last(self) -> bool:
        return self.type == "SessionFinished"


async def append_events(db: AsyncSession, history_id: int, events: Sequence[TrainingEvent]) -> None:
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
    db: AsyncSession, history_id: int, session_id: str, after_seq: int, limit: int = 1000
) -> list[TrainingEvent]:
    rows = await db.scalars(
        select(EventRow)
        .where(EventRow.history_id == history_id, EventRow.seq > after_seq)
        .order_by(EventRow.seq)
        .limit(limit)
    )
    return [TrainingEvent(session_id, row.seq, row.type, row.at, row.payload) for row in rows]


async def newest_event(db: AsyncSession, history_id: int, session_id: str) -> TrainingEvent | None:
    row = await db.scalar(
        select(EventRow)
        .where(EventRow.history_id == history_id)
        .order_by(EventRow.seq.desc())
        .limit(1)
    )
    if row is None:
        return None
    return TrainingEvent(session_id, row.seq, row.type, row.at, row.payload)


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
