"""Fine-tuning on what a user collected: the job's datasets, then the provider's job.

When a user's count of examples with final quality >= 7.0 crosses a multiple of 50, the
recorder inserts a QUEUED `fine_tune_jobs` row and hands its id to `FineTuner.submit`. The
datasets hold every such example of the user's up to the batch that triggered the job (its
`last_example_id`), in example order, and are written under `data_dir/fine-tune/<job id>/`.
A job continues the files of the user's previous job and encodes only the examples since.

- `dataset.jsonl`: `{"messages": [system, user, assistant]}` per example, the chat format of
  OpenAI's fine-tuning API; the assistant answer is the winning story.
- `preferences.jsonl`: `{"prompt": [system, user], "chosen": [assistant], "rejected":
  [assistant]}`, the conversational preference format TRL's `DPOTrainer` accepts. The rejected
  answer is the lowest-scored valid output other than the winner; an example without one is
  left out.

A submitted job moves from QUEUED to VALIDATING_FILES as its files are written, so it is
prepared once however often it is submitted. A job of the `export` backend then ends
SUCCEEDED. One of the `openai` backend uploads `dataset.jsonl`, creates the provider's job and
follows it until it ends. Every outcome is written to the row, each change in its own short
transaction; a job the fine-tuner stops following on `aclose` is followed again by `resume`,
and one stopped before the provider had it ends FAILED.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.enums import FineTuneStatus, Genre
from models.examples import collected_by
from models.tables import FineTuneJob, TeacherOutput, TrainingExample, TrainingHistory
from trainer.catalog import Sample
from trainer.example import writing_request
from trainer.teachers.base import TeacherError
from trainer.teachers.http import bearer, env_proxy, error_for, fetch, open_client

logger = logging.getLogger("chorus.finetune")

EXPORT = "export"
OPENAI = "openai"
DATASET = "dataset.jsonl"
PREFERENCES = "preferences.jsonl"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
MODEL_SUFFIX = "chorus"
INTERRUPTED = "the server stopped before the job reached the provider"
_TIMEOUT_S = 120.0
_REASON_LENGTH = 300

_PROVIDER_STATUS = {
    "validating_files": FineTuneStatus.VALIDATING_FILES,
    "queued": FineTuneStatus.QUEUED,
    "running": FineTuneStatus.RUNNING,
    "succeeded": FineTuneStatus.SUCCEEDED,
    "failed": FineTuneStatus.FAILED,
    "cancelled": FineTuneStatus.CANCELLED,
}

Message = dict[str, str]
CollectedExample = Row[Genre, str, str | None, str, str | None]


class ProviderError(Exception):
    """A fine-tuning API call that failed; `transient` when asking again later may work."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class FineTuner:
    """Prepares submitted jobs and follows the provider's, each in a task it owns."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        data_dir: Path,
        base_url: str | None = None,
        api_key: str | None = None,
        base_model: str = DEFAULT_BASE_MODEL,
        poll_interval_s: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._data_dir = data_dir
        self._base_model = base_model
        self._poll_interval_s = poll_interval_s
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = bearer(api_key)
        self._proxy = env_proxy(self._base_url)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, job_id: int) -> None:
        """Prepare a QUEUED job in the background: its datasets, then its backend's run."""
        self._start(job_id, self._prepare(job_id))

    async def resume(self) -> None:
        """Pick up what a stopped server left: jobs still QUEUED (triggered, never prepared)
        are prepared, and the provider's jobs that had not ended are followed again."""
        async with self._sessions() as db:
            rows = (
                await db.execute(
                    select(
                        FineTuneJob.id,
                        FineTuneJob.backend,
                        FineTuneJob.status,
                        FineTuneJob.external_job_id,
                    ).where(FineTuneJob.status.not_in([s for s in FineTuneStatus if s.is_final]))
                )
            ).all()
        for job_id, backend, status, external_id in rows:
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
        if self._http is not None:
            await self._http.close()

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
        except Exception as error:  # a bug must end the job visibly, not leave it running
            logger.exception("fine-tune job %d failed", job_id)
            try:
                await self._finish(job_id, FineTuneStatus.FAILED, error=f"internal error: {error}")
            except Exception:
                logger.exception("fine-tune job %d could not be marked FAILED", job_id)

    async def _prepare(self, job_id: int) -> None:
        async with self._sessions.begin() as db:
            job = await _claim(db, job_id)
            if job is None:
                logger.warning("fine-tune job %d is missing or not QUEUED; skipped", job_id)
                return
            backend = job.backend
            base = await _base_of(db, job)
            examples = await _collected_examples(db, job, after=base)
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
        chats, preferences = _dataset_lines(examples)
        base_directory = base.directory if base else None
        await asyncio.to_thread(_write_datasets, directory, chats, preferences, base_directory)
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
            form = aiohttp.FormData()
            form.add_field("purpose", "fine-tune")
            form.add_field("file", content, filename=DATASET, content_type="application/jsonl")
            uploaded = await self._request("POST", "/files", data=form)
            created = await self._request(
                "POST",
                "/fine_tuning/jobs",
                json={
                    "training_file": _text_field(uploaded, "id"),
                    "model": self._base_model,
                    "suffix": MODEL_SUFFIX,
                },
            )
            external_id = _text_field(created, "id")
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
                remote = await self._request("GET", f"/fine_tuning/jobs/{external_id}")
            except ProviderError as error:
                if not error.transient:
                    reason = f"following the provider's job {external_id} failed: {error.reason}"
                    await self._finish(job_id, FineTuneStatus.FAILED, error=reason)
                    return
                logger.warning("fine-tune job %d: polling failed, will retry: %s", job_id, error)
            else:
                status = _PROVIDER_STATUS.get(str(remote.get("status")))
                if status is None:
                    logger.warning("fine-tune job %d: unknown status in %s", job_id, remote)
                elif status.is_final:
                    await self._finish(job_id, status, **_outcome(status, remote))
                    return
                elif status is not written:
                    await self._update(job_id, status=status)
                    written = status
            await asyncio.sleep(self._poll_interval_s)

    async def _request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        self._http = open_client(self._http, headers=self._headers, timeout_s=_TIMEOUT_S)
        try:
            url = f"{self._base_url}{path}"
            reply = await fetch(self._http, method, url, proxy=self._proxy, **options)
        except TeacherError as error:
            raise ProviderError(error.reason, transient=True) from error
        if reply.is_error:
            failure = error_for(reply)
            raise ProviderError(failure.reason, transient=failure.retryable)
        try:
            payload = reply.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderError(f"not a JSON object: {_snippet(reply.text)}")
        return payload

    async def _update(self, job_id: int, **values: object) -> None:
        async with self._sessions.begin() as db:
            await db.execute(update(FineTuneJob).where(FineTuneJob.id == job_id).values(values))

    async def _finish(self, job_id: int, status: FineTuneStatus, **values: object) -> None:
        await self._update(job_id, status=status, finished_at=utcnow(), **values)
        logger.info("fine-tune job %d ended %s", job_id, status.name)

    async def _interrupt(self, job_id: int) -> None:
        """End a job stopped before the provider had it; one it has is left for `resume`."""
        async with self._sessions.begin() as db:
            await db.execute(
                update(FineTuneJob)
                .where(
                    FineTuneJob.id == job_id,
                    FineTuneJob.external_job_id.is_(None),
                    FineTuneJob.finished_at.is_(None),
                )
                .values(status=FineTuneStatus.FAILED, finished_at=utcnow(), error=INTERRUPTED)
            )


async def _claim(db: AsyncSession, job_id: int) -> FineTuneJob | None:
    """The job, moved on from QUEUED: however often it is submitted, it is prepared once."""
    claimed = await db.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.status == FineTuneStatus.QUEUED)
        .values(status=FineTuneStatus.VALIDATING_FILES)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await db.get(FineTuneJob, job_id)


@dataclass(frozen=True)
class PreparedJob:
    """An earlier job of the same user whose datasets are written: where this one's start."""

    directory: Path
    last_example_id: int
    num_examples: int


async def _base_of(db: AsyncSession, job: FineTuneJob) -> PreparedJob | None:
    """The user's latest earlier job whose datasets are on disk, when both have a cutoff.

    A job's datasets hold the user's collected examples up to its cutoff, in id order, and
    every example stored after it has a larger id: a user's examples are written one batch
    at a time, under the user's lock, and never deleted. So a job's datasets are the earlier
    job's files followed by the examples between the two cutoffs, and each job encodes only
    those, not the user's whole history again.
    """
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
    directory = Path(row.dataset_path)
    if not all((directory / name).is_file() for name in (DATASET, PREFERENCES)):
        return None  # removed since: this job is exported whole
    return PreparedJob(directory, row.last_example_id, row.num_examples)


async def _collected_examples(
    db: AsyncSession, job: FineTuneJob, *, after: PreparedJob | None = None
) -> Sequence[CollectedExample]:
    """The job's examples in id order (genre, prompt, style, winning text, rejected text);
    only those past `after`'s cutoff when it is given."""
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


def _dataset_lines(examples: Sequence[CollectedExample]) -> tuple[list[str], list[str]]:
    """The lines of `dataset.jsonl` and of `preferences.jsonl`, each ending in a newline."""
    chats: list[str] = []
    preferences: list[str] = []
    for genre, prompt, style, text, rejected in examples:
        # The seed only reaches the teachers; the messages are the same for any seed.
        request = writing_request(Sample(genre, prompt, style or ""), seed=0)
        asked: list[Message] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.prompt},
        ]
        chosen: list[Message] = [{"role": "assistant", "content": text}]
        chats.append(_json_line({"messages": [*asked, *chosen]}))
        if rejected is not None:
            answer: list[Message] = [{"role": "assistant", "content": rejected}]
            preferences.append(_json_line({"prompt": asked, "chosen": chosen, "rejected": answer}))
    return chats, preferences


def _json_line(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


def _write_datasets(
    directory: Path, chats: list[str], preferences: list[str], base: Path | None
) -> None:
    """The datasets: `base`'s files, when given, followed by the new lines."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in ((DATASET, chats), (PREFERENCES, preferences)):
        _write_atomically(directory / name, lines, start=base / name if base else None)


def _write_atomically(path: Path, lines: list[str], *, start: Path | None = None) -> None:
    """Readers see the old file or the whole new one, never a part. `start`'s content, when
    given, comes first."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        if start is not None:
            # The kernel copies it (sendfile), not Python: a dataset grows with every job.
            shutil.copyfile(start, temporary)
        with open(temporary, "ab") as out:
            out.write("".join(lines).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _outcome(status: FineTuneStatus, remote: dict[str, Any]) -> dict[str, object]:
    """What a final provider job adds to the row: the model it made, or why it failed."""
    if status is FineTuneStatus.SUCCEEDED:
        return {"fine_tuned_model": remote.get("fine_tuned_model")}
    if status is FineTuneStatus.FAILED:
        error = remote.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        return {"error": message or "the provider gave no reason"}
    return {}


def _text_field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"the answer has no {name!r}: {_snippet(json.dumps(payload))}")
    return value


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."
