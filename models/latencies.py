"""The teachers' recent call latencies, from their recorded outputs: what a new session's time
is estimated from, whichever process ran the sessions before it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import TeacherOutput

# The latest outputs looked at: about the last 300 examples of a seven-teacher ensemble, read
# backwards along the primary key, so the read costs the same however long the history is.
RECENT_OUTPUTS = 2000


async def recent_latencies_ms(db: AsyncSession, within: int = RECENT_OUTPUTS) -> dict[str, float]:
    """Each teacher's mean latency over the latest `within` outputs of any session; a teacher
    with none among them is absent."""
    recent = (
        select(TeacherOutput.model, TeacherOutput.latency_ms)
        .order_by(TeacherOutput.id.desc())
        .limit(within)
        .subquery()
    )
    rows = await db.execute(
        select(recent.c.model, func.avg(recent.c.latency_ms))
        .where(recent.c.latency_ms.is_not(None))
        .group_by(recent.c.model)
    )
    return {model: float(mean) for model, mean in rows.all() if mean is not None}
