"""Fine-tune jobs as they move from QUEUED to their end, and the examples of their datasets.

A job's datasets hold the user's collected examples up to its cutoff (`last_example_id`),
in id order, and every example stored after it has a larger id: a user's examples are
written one batch at a time, under the user's lock, and never deleted. So a job's datasets
are the previous job's files followed by the examples between the two cutoffs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, Row, Select, and_, or_, select, update
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


def _not_ended() -> ColumnElement[bool]:
    return FineTuneJob.status.not_in([s for s in FineTuneStatus if s.is_final])


def _unfinished() -> Select[int, str, FineTuneStatus, str | None]:
    return select(
        FineTuneJob.id,
        FineTuneJob.backend,
        FineTuneJob.status,
        FineTuneJob.external_job_id,
    ).where(_not_ended())


async def hand_back_job(db: AsyncSession, job_id: int, owner: str) -> None:
    """Give up `owner`'s work on the job for the next worker that looks: one cut short before
    the provider had it back to QUEUED (its files are written again whole), one the provider
    has with its lease released."""
    await db.execute(
        update(FineTuneJob)
        .where(
            FineTuneJob.id == job_id,
            FineTuneJob.lease_owner == owner,
            FineTuneJob.external_job_id.is_(None),
            FineTuneJob.finished_at.is_(None),
        )
        .values(status=FineTuneStatus.QUEUED, lease_owner=None, lease_until=None)
    )
    await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.lease_owner == owner)
        .values(lease_until=None)
    )


async def claim_job(
    db: AsyncSession, job_id: int, owner: str, lease_s: float
) -> FineTuneJob | None:
    """The job, moved on from QUEUED under `owner`'s lease: however often it is submitted, by
    however many workers, it is prepared once."""
    claimed = await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.status == FineTuneStatus.QUEUED)
        .values(status=FineTuneStatus.VALIDATING_FILES, **_lease(owner, lease_s))
    )
    if _rows(claimed) != 1:
        return None
    return await db.get(FineTuneJob, job_id)


async def update_job(
    db: AsyncSession, job_id: int, owner: str, values: Mapping[str, object]
) -> bool:
    """Write the job's `values` while `owner` holds its lease; whether it did."""
    written = await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.lease_owner == owner)
        .values(values)
    )
    return _rows(written) == 1


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def _lease(owner: str, lease_s: float) -> dict[str, object]:
    return {"lease_owner": owner, "lease_until": utcnow() + timedelta(seconds=lease_s)}


def _abandoned() -> ColumnElement[bool]:
    """An unfinished job whose worker's lease has run out, or that never had one."""
    return and_(
        _not_ended(),
        or_(FineTuneJob.lease_until.is_(None), FineTuneJob.lease_until < utcnow()),
    )


async def renew_job_leases(db: AsyncSession, owner: str, lease_s: float) -> None:
    """Extend `owner`'s lease on every unfinished job it holds."""
    await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.lease_owner == owner, FineTuneJob.finished_at.is_(None))
        .values(lease_until=utcnow() + timedelta(seconds=lease_s))
    )


async def release_job_leases(db: AsyncSession, owner: str) -> None:
    """Hand back `owner`'s unfinished jobs: the next worker that looks takes them up."""
    await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.lease_owner == owner, FineTuneJob.finished_at.is_(None))
        .values(lease_until=None)
    )


async def take_abandoned_jobs(db: AsyncSession, owner: str, lease_s: float) -> list[UnfinishedJob]:
    """The jobs `owner` is to work on once nobody else is: those QUEUED (to be claimed), and
    those whose worker's lease ran out, with the ones `owner` holds already. One cut short
    before the provider had it goes back to QUEUED (its files are written again whole); one the
    provider has becomes `owner`'s to follow, unless another worker took it first. Three
    statements however many jobs there are."""
    await db.execute(
        update(FineTuneJob)
        .where(_abandoned(), FineTuneJob.external_job_id.is_(None))
        .values(status=FineTuneStatus.QUEUED, lease_owner=None, lease_until=None)
    )
    await db.execute(
        update(FineTuneJob)
        .where(_abandoned(), FineTuneJob.external_job_id.is_not(None))
        .values(**_lease(owner, lease_s))
    )
    held = and_(FineTuneJob.lease_owner == owner, FineTuneJob.external_job_id.is_not(None))
    return list(
        (
            await db.execute(
                _unfinished().where(or_(held, FineTuneJob.status == FineTuneStatus.QUEUED))
            )
        ).all()
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
