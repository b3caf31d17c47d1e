"""Fine-tune jobs as they move from QUEUED to their end, and the examples of their datasets.

A job's datasets hold the user's collected examples up to its cutoff (`last_example_id`),
in id order, and every example stored after it has a larger id: a user's examples are
written one batch at a time, under the user's lock, and never deleted. So a job's datasets
are the previous job's files followed by the examples between the two cutoffs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Row, Select, Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.bulk import insert_returning_ids
from models.enums import FineTuneStatus, Genre
from models.examples import collected_by
from models.tables import FineTuneJob, TeacherOutput, TrainingExample, TrainingHistory

# A dataset's example: genre, prompt, style, winning text, and the weakest valid other text.
CollectedExample = Row[Genre, str, str | None, str, str | None]
UnfinishedJob = Row[int, str, FineTuneStatus, str | None]


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


def _unfinished() -> Select[int, str, FineTuneStatus, str | None]:
    return select(
        FineTuneJob.id,
        FineTuneJob.backend,
        FineTuneJob.status,
        FineTuneJob.external_job_id,
    ).where(FineTuneJob.status.not_in([s for s in FineTuneStatus if s.is_final]))


async def unfinished_jobs(db: AsyncSession) -> Sequence[UnfinishedJob]:
    """Every job not at a final status: its id, backend, status and provider's job id."""
    return (await db.execute(_unfinished())).all()


def _unsent(job_id: int) -> Update:
    """An update of the job while the provider does not have it and it has not ended."""
    return update(FineTuneJob).where(
        FineTuneJob.id == job_id,
        FineTuneJob.external_job_id.is_(None),
        FineTuneJob.finished_at.is_(None),
    )


async def requeue_unsent_job(db: AsyncSession, job_id: int) -> UnfinishedJob | None:
    """A job whose preparation was cut short back to QUEUED, unless the provider has it or it
    has ended; the job as it is then, or None once it has ended."""
    await db.execute(_unsent(job_id).values(status=FineTuneStatus.QUEUED))
    return (await db.execute(_unfinished().where(FineTuneJob.id == job_id))).one_or_none()


async def claim_job(db: AsyncSession, job_id: int) -> FineTuneJob | None:
    """The job, moved on from QUEUED: however often it is submitted, it is prepared once."""
    claimed = await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.status == FineTuneStatus.QUEUED)
        .values(status=FineTuneStatus.VALIDATING_FILES)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await db.get(FineTuneJob, job_id)


async def update_job(db: AsyncSession, job_id: int, values: Mapping[str, object]) -> None:
    await db.execute(update(FineTuneJob).where(FineTuneJob.id == job_id).values(values))


async def fail_unsent_job(db: AsyncSession, job_id: int, error: str) -> None:
    """End the job FAILED unless the provider has it (or it has ended already)."""
    await db.execute(
        _unsent(job_id).values(status=FineTuneStatus.FAILED, finished_at=utcnow(), error=error)
    )


@dataclass(frozen=True)
class PreparedJob:
    """An earlier job of the same user whose datasets are written: where a later one's start."""

    directory: Path
    last_example_id: int
    num_examples: int


async def latest_prepared_job(db: AsyncSession, job: FineTuneJob) -> PreparedJob | None:
    """The user's latest job before `job` whose datasets were written, when both have a
    cutoff."""
    if job.last_example_id is None:
        return None
    row = (
        await db.execute(
            select(FineTuneJob.dataset_path, FineTuneJob.last_example_id, FineTuneJob.num_examples)
            .where(
                FineTuneJob.user_id == job.user_id,
                FineTuneJob.id < job.id,
                FineTuneJob.dataset_path.is_not(None),
                FineTuneJob.last_example_id.is_not(None),
            )
            .order_by(FineTuneJob.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None or row.dataset_path is None or row.last_example_id is None:
        return None
    return PreparedJob(Path(row.dataset_path), row.last_example_id, row.num_examples)


async def collected_examples(
    db: AsyncSession, job: FineTuneJob, *, after: PreparedJob | None = None
) -> Sequence[CollectedExample]:
    """The job's examples in id order; only those past `after`'s cutoff when it is given."""
    weakest_valid = (
        select(TeacherOutput.text)
        .where(
            TeacherOutput.example_id == TrainingExample.id,
            TeacherOutput.error.is_(None),
            TeacherOutput.text.is_not(None),
            TeacherOutput.model != TrainingExample.winner,
        )
        .order_by(TeacherOutput.text_quality, TeacherOutput.model)
        .limit(1)
        .correlate(TrainingExample)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(
            TrainingExample.genre,
            TrainingExample.prompt,
            TrainingExample.style,
            TrainingExample.text,
            weakest_valid,
        )
        .join(TrainingHistory, TrainingHistory.id == TrainingExample.history_id)
        .where(*collected_by(job.user_id), *_window(job, after))
        .order_by(TrainingExample.id)
    )
    return rows.all()


def _window(job: FineTuneJob, after: PreparedJob | None) -> list[ColumnElement[bool]]:
    if job.last_example_id is None:  # a job from before cutoffs were kept
        return [TrainingExample.created_at <= job.created_at]
    window = [TrainingExample.id <= job.last_example_id]
    if after is not None:
        window.append(TrainingExample.id > after.last_example_id)
    return window
