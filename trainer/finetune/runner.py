"""The fine-tune job runner: prepares each submitted job once, runs its backend and follows
the provider's job to its end, each job in a task it owns.

A job moves from QUEUED to VALIDATING_FILES as it is claimed and its datasets written. One of
the `export` backend then ends SUCCEEDED; one of the `openai` backend has its dataset uploaded
and the provider's job created, and takes each status the provider reports until a final one.
Every change is written to the job's row in its own short transaction.

A job is worked on under its runner's lease (`lease_owner` until `lease_until`), as a session
is run: once started, a runner renews the leases of its jobs and, every third of a lease,
takes up the jobs nobody works on, those never claimed and those whose runner died or lost
the database for longer than a lease. One cut short before the provider had it is prepared
again, whole; one the provider has is followed on. A runner that stops (`aclose`) hands its
jobs back, so the next runner that looks takes them up at once; a write by a runner that
lost a job's lease changes nothing, and it stops working on the job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.enums import FineTuneStatus
from models.errors import is_outage, public_message
from models.fine_tuning import (
    CollectedExample,
    PreparedJob,
    UnfinishedJob,
    claim_job,
    collected_examples,
    hand_back_job,
    latest_prepared_job,
    release_job_leases,
    renew_job_leases,
    take_abandoned_jobs,
    update_job,
)
from trainer.finetune.dataset import (
    DATASET,
    continuable,
    dataset_lines,
    read_dataset,
    write_datasets,
)
from trainer.finetune.provider import DEFAULT_BASE_MODEL, FineTuningAPI, ProviderError
from trainer.leases import new_owner_id

logger = logging.getLogger("chorus.finetune")

EXPORT = "export"
OPENAI = "openai"
# As a session's: a runner that cannot renew for this long loses its jobs to another.
LEASE_S = 15.0
# How long a job waits for the database to answer again, doubling up to the most.
OUTAGE_FIRST_WAIT_S = 1.0
OUTAGE_MAX_WAIT_S = 30.0


class JobLost(Exception):
    """Another runner holds the job's lease now: this one's work on it is over."""


class FineTuner:
    """Prepares submitted jobs and follows the provider's, each in a task it owns."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        *,
        data_dir: Path,
        base_url: str | None = None,
        api_key: str | None = None,
        base_model: str = DEFAULT_BASE_MODEL,
        poll_interval_s: float = 30.0,
        lease_s: float = LEASE_S,
    ) -> None:
        self._db = db
        self._jobs_directory = data_dir / "fine-tune"
        self._poll_interval_s = poll_interval_s
        self._lease_s = lease_s
        self.owner = new_owner_id()
        self._provider = FineTuningAPI(base_url, api_key, base_model=base_model)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False

    def submit(self, job_id: int) -> None:
        """Prepare a QUEUED job in the background: its datasets, then its backend's run."""
        self._start(job_id, self._prepare(job_id))

    async def start(self) -> None:
        """Take up the jobs nobody works on, now and every third of a lease from now on,
        renewing the leases of this runner's own."""
        await self.resume()
        self._keeper = asyncio.create_task(self._keep(), name="fine-tune leases")

    async def resume(self) -> None:
        """Take up the jobs nobody works on: QUEUED ones are prepared, and the provider's jobs
        whose runner's lease ran out are followed on."""
        async with self._db.begin() as db:
            jobs = await take_abandoned_jobs(db, self.owner, self._lease_s)
        for job in jobs:
            self._pick_up(job)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                async with self._db.begin() as db:
                    await renew_job_leases(db, self.owner, self._lease_s)
                await self.resume()
            except Exception as error:
                # The keeper must outlive any one failure: without it this runner's jobs
                # would be taken from it, and abandoned ones left, for as long as it runs.
                if is_outage(error):
                    logger.warning("fine-tune leases: the database is out of reach: %s", error)
                else:
                    logger.exception("fine-tune leases: renewing and taking up jobs failed")

    def _pick_up(self, job: UnfinishedJob) -> None:
        """Work on a job taken up, unless already at it."""
        if job.id in self._tasks:
            return
        work = self._work_on(job)
        if work is not None:
            self._start(job.id, work)

    def _work_on(self, job: UnfinishedJob) -> Coroutine[Any, Any, None] | None:
        """Preparing a QUEUED job, or following one the provider has."""
        job_id, backend, status, external_id = job
        if external_id is None and status is FineTuneStatus.QUEUED:
            # Claiming is atomic, so a job another process prepares is not prepared twice.
            return self._prepare(job_id)
        if backend == OPENAI and external_id is not None:
            return self._follow(job_id, external_id)
        return None

    async def wait_idle(self) -> None:
        """Return once every job in flight has reached its end."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    async def aclose(self) -> None:
        """Stop, handing every job back: jobs at the provider go on there, and the next
        runner to look follows them on; one not yet at the provider is prepared again."""
        self._closed = True
        tasks = [*self._tasks.values(), *([self._keeper] if self._keeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self._db.begin() as db:
                await release_job_leases(db, self.owner)
        except Exception as error:
            if not is_outage(error):
                raise
            logger.warning(
                "fine-tune jobs are taken up once their leases run out: the database is out "
                "of reach: %s",
                error,
            )
        await self._provider.aclose()

    def _start(self, job_id: int, work: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            work.close()
            raise RuntimeError(f"fine-tune job {job_id} was submitted after the fine-tuner closed")
        task = asyncio.create_task(self._guarded(job_id, work), name=f"fine-tune-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _guarded(self, job_id: int, work: Coroutine[Any, Any, None] | None) -> None:
        while work is not None:
            try:
                await work
                return
            except JobLost:
                logger.warning("fine-tune job %d: another runner took it over", job_id)
                return
            except Exception as error:
                if is_outage(error):
                    work = await self._after_outage(job_id, error)
                    continue
                # A bug must end the job visibly, not leave it running.
                logger.exception("fine-tune job %d failed", job_id)
                try:
                    message = public_message(error, f"fine-tune job {job_id}")
                    await self._finish(job_id, FineTuneStatus.FAILED, error=message)
                except Exception:
                    logger.exception("fine-tune job %d could not be marked FAILED", job_id)
                return

    async def _after_outage(
        self, job_id: int, error: BaseException
    ) -> Coroutine[Any, Any, None] | None:
        """Once the database answers again, hand the job back and take up what nobody works
        on: this job's work goes on in this task, prepared again (it was cut short, its files
        are rewritten whole) or its provider's job followed on, unless another runner took it
        while its lease ran out. An outage must not leave it VALIDATING_FILES for ever, nor
        fail a job that nothing was wrong with."""
        logger.warning(
            "fine-tune job %d: the database is out of reach; taken up again once it answers: %s",
            job_id,
            error,
        )
        wait_s = OUTAGE_FIRST_WAIT_S
        while True:
            await asyncio.sleep(wait_s)
            try:
                async with self._db.begin() as db:
                    await hand_back_job(db, job_id, self.owner)
                    taken = await take_abandoned_jobs(db, self.owner, self._lease_s)
                break
            except Exception as again:
                if not is_outage(again):
                    raise
                wait_s = min(wait_s * 2, OUTAGE_MAX_WAIT_S)
        work = None
        for job in taken:
            if job.id == job_id:
                work = self._work_on(job)
            else:
                self._pick_up(job)
        return work

    async def _prepare(self, job_id: int) -> None:
        async with self._db.begin() as db:
            job = await claim_job(db, job_id, self.owner, self._lease_s)
            if job is None:
                logger.debug("fine-tune job %d is missing or claimed already; skipped", job_id)
                return
            backend = job.backend
            latest = await latest_prepared_job(db, job)
            base = await asyncio.to_thread(continuable, latest, self._jobs_directory)
            examples = await collected_examples(db, job, after=base)
        external_id = await self._run_backend(job_id, backend, examples, base)
        if external_id is not None:
            await self._follow(job_id, external_id)

    async def _run_backend(
        self,
        job_id: int,
        backend: str,
        examples: Sequence[CollectedExample],
        base: PreparedJob | None,
    ) -> str | None:
        """Write the datasets and run the backend; the provider's job id, if there is one."""
        directory = self._jobs_directory / str(job_id)
        chats, preferences = dataset_lines(examples)
        base_directory = base.directory if base else None
        await asyncio.to_thread(write_datasets, directory, chats, preferences, base_directory)
        num_examples = len(chats) + (base.num_examples if base else 0)
        prepared: dict[str, object] = {"dataset_path": str(directory), "num_examples": num_examples}
        if backend == EXPORT:
            await self._finish(job_id, FineTuneStatus.SUCCEEDED, **prepared)
            return None
        if backend != OPENAI:
            reason = f"unknown fine-tuning backend {backend!r}; use {EXPORT!r} or {OPENAI!r}"
            await self._finish(job_id, FineTuneStatus.FAILED, error=reason, **prepared)
            return None
        await self._update(job_id, **prepared)
        return await self._launch(job_id, directory)

    async def _launch(self, job_id: int, directory: Path) -> str | None:
        """Upload the dataset and create the provider's job; its id, or None if that failed."""
        content = await asyncio.to_thread(read_dataset, directory, DATASET)
        try:
            training_file = await self._provider.upload(content, DATASET)
            external_id = await self._provider.create(training_file)
        except ProviderError as error:
            reason = f"creating the provider's job failed: {error.reason}"
            await self._finish(job_id, FineTuneStatus.FAILED, error=reason)
            return None
        await self._update(job_id, external_job_id=external_id)
        return external_id

    async def _follow(self, job_id: int, external_id: str) -> None:
        """Poll the provider's job until it ends, writing each status it moves to."""
        written: FineTuneStatus | None = None
        while True:
            try:
                remote = await self._provider.job(external_id)
            except ProviderError as error:
                if not error.transient:
                    reason = f"following the provider's job {external_id} failed: {error.reason}"
                    await self._finish(job_id, FineTuneStatus.FAILED, error=reason)
                    return
                logger.warning("fine-tune job %d: polling failed, will retry: %s", job_id, error)
            else:
                status = remote.status
                if status is None:
                    logger.warning("fine-tune job %d: unknown status in %s", job_id, remote.payload)
                elif status.is_final:
                    await self._finish(job_id, status, **remote.outcome)
                    return
                elif status is not written:
                    await self._update(job_id, status=status)
                    written = status
            await asyncio.sleep(self._poll_interval_s)

    async def _update(self, job_id: int, **values: object) -> None:
        async with self._db.begin() as db:
            if not await update_job(db, job_id, self.owner, values):
                raise JobLost(job_id)

    async def _finish(self, job_id: int, status: FineTuneStatus, **values: object) -> None:
        await self._update(job_id, status=status, finished_at=utcnow(), **values)
        logger.info("fine-tune job %d ended %s", job_id, status.name)
