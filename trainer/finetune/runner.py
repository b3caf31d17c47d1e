"""The fine-tune job runner: prepares each submitted job once, runs its backend and follows
the provider's job to its end, each job in a task it owns.

A job moves from QUEUED to VALIDATING_FILES as it is claimed and its datasets written. One of
the `export` backend then ends SUCCEEDED; one of the `openai` backend has its dataset uploaded
and the provider's job created, and takes each status the provider reports until a final one.
Every change is written to the job's row in its own short transaction. A job the runner
stops following on `aclose` is followed again by `resume`; one stopped before the provider
had it ends FAILED.
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
    fail_unsent_job,
    latest_prepared_job,
    requeue_unsent_job,
    unfinished_jobs,
    update_job,
)
from trainer.finetune.dataset import DATASET, dataset_lines, still_on_disk, write_datasets
from trainer.finetune.provider import DEFAULT_BASE_MODEL, FineTuningAPI, ProviderError

logger = logging.getLogger("chorus.finetune")

EXPORT = "export"
OPENAI = "openai"
INTERRUPTED = "the server stopped before the job reached the provider"
# How long a job waits for the database to answer again, doubling up to the most.
OUTAGE_FIRST_WAIT_S = 1.0
OUTAGE_MAX_WAIT_S = 30.0


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
    ) -> None:
        self._db = db
        self._data_dir = data_dir
        self._poll_interval_s = poll_interval_s
        self._provider = FineTuningAPI(base_url, api_key, base_model=base_model)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, job_id: int) -> None:
        """Prepare a QUEUED job in the background: its datasets, then its backend's run."""
        self._start(job_id, self._prepare(job_id))

    async def resume(self) -> None:
        """Pick up what a stopped server left: jobs still QUEUED (triggered, never prepared)
        are prepared, and the provider's jobs that had not ended are followed again."""
        async with self._db() as db:
            rows = await unfinished_jobs(db)
        for row in rows:
            self._pick_up(row)

    def _pick_up(self, job: UnfinishedJob) -> None:
        """Prepare a QUEUED job, or follow one the provider has."""
        job_id, backend, status, external_id = job
        if external_id is None and status is FineTuneStatus.QUEUED:
            # Claiming is atomic, so a job another process prepares is not prepared twice.
            self.submit(job_id)
        elif backend == OPENAI and external_id is not None:
            self._start(job_id, self._follow(job_id, external_id))

    async def wait_idle(self) -> None:
        """Return once every job in flight has reached its end."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Stop following: jobs at the provider go on, and `resume` picks them up again."""
        self._closed = True
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._provider.aclose()

    def _start(self, job_id: int, work: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            work.close()
            raise RuntimeError(f"fine-tune job {job_id} was submitted after the fine-tuner closed")
        task = asyncio.create_task(self._guarded(job_id, work), name=f"fine-tune-job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job_id: int, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as error:
            if is_outage(error):
                await self._after_outage(job_id, error)
                return
            # A bug must end the job visibly, not leave it running.
            logger.exception("fine-tune job %d failed", job_id)
            try:
                message = public_message(error, f"fine-tune job {job_id}")
                await self._finish(job_id, FineTuneStatus.FAILED, error=message)
            except Exception:
                logger.exception("fine-tune job %d could not be marked FAILED", job_id)

    async def _after_outage(self, job_id: int, error: BaseException) -> None:
        """Once the database answers again, prepare the job again (it was cut short, its
        files are rewritten whole) or follow the provider's job: an outage must not leave it
        VALIDATING_FILES for ever, nor fail a job that nothing was wrong with."""
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
                    job = await requeue_unsent_job(db, job_id)
                break
            except Exception as again:
                if not is_outage(again):
                    raise
                wait_s = min(wait_s * 2, OUTAGE_MAX_WAIT_S)
        if job is not None:
            self._pick_up(job)

    async def _prepare(self, job_id: int) -> None:
        async with self._db.begin() as db:
            job = await claim_job(db, job_id)
            if job is None:
                logger.warning("fine-tune job %d is missing or not QUEUED; skipped", job_id)
                return
            backend = job.backend
            base = still_on_disk(await latest_prepared_job(db, job))
            examples = await collected_examples(db, job, after=base)
        try:
            external_id = await self._run_backend(job_id, backend, examples, base)
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupt(job_id))
            raise
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
        directory = self._data_dir / "fine-tune" / str(job_id)
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
        return await self._launch(job_id, directory / DATASET)

    async def _launch(self, job_id: int, dataset: Path) -> str | None:
        """Upload the dataset and create the provider's job; its id, or None if that failed."""
        content = await asyncio.to_thread(dataset.read_bytes)
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
            await update_job(db, job_id, values)

    async def _finish(self, job_id: int, status: FineTuneStatus, **values: object) -> None:
        await self._update(job_id, status=status, finished_at=utcnow(), **values)
        logger.info("fine-tune job %d ended %s", job_id, status.name)

    async def _interrupt(self, job_id: int) -> None:
        """End a job stopped before the provider had it; one it has is left for `resume`."""
        async with self._db.begin() as db:
            await fail_unsent_job(db, job_id, INTERRUPTED)
