"""Fine-tune jobs: queued when a user's collected examples cross a threshold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.bulk import insert_returning_ids
from models.enums import FineTuneStatus
from models.tables import FineTuneJob


async def queue_job(
    db: AsyncSession,
    *,
    user_id: int,
    backend: str,
    num_examples: int,
    session_id: str,
    last_example_id: int,
    now: datetime,
) -> int:
    """A QUEUED job of the user's examples up to `last_example_id`; its id."""
    [job_id] = await insert_returning_ids(
        db,
        FineTuneJob,
        [
            {
                "user_id": user_id,
                "status": FineTuneStatus.QUEUED,
                "backend": backend,
                "num_examples": num_examples,
                "triggered_by_session_id": session_id,
                "last_example_id": last_example_id,
                "created_at": now,
            }
        ],
    )
    return job_id
