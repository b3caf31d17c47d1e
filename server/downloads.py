"""Downloads of a fine-tuning job's datasets, for its owner or an admin.

`GET /api/fine-tune-jobs/{id}/dataset.jsonl` and `.../preferences.jsonl`: the parts the
fine-tuner wrote (trainer/finetune/dataset.py), streamed one after another as JSON Lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from models.errors import ChorusError, NotFound
from models.limits import ID_MAX
from models.tables import FineTuneJob, User
from server.failures import error_response
from server.services import services_of
from trainer.finetune import DATASET, PREFERENCES, Part, dataset_files

MEDIA_TYPE = "application/x-ndjson"
CHUNK_BYTES = 256 * 1024


async def _dataset_parts(
    db: async_sessionmaker[AsyncSession], caller: User, job_id: int, filename: str
) -> list[Part]:
    if not 1 <= job_id <= ID_MAX:
        raise NotFound(f"No fine-tuning job {job_id}.")
    async with db() as transaction:
        job = await transaction.get(FineTuneJob, job_id)
    if job is None or (job.user_id != caller.id and not caller.is_admin):
        raise NotFound(f"No fine-tuning job {job_id}.")
    if job.dataset_path is None:
        raise NotFound(
            f"Fine-tuning job {job_id} has no dataset yet; it is written when the job starts. "
            "Ask again once its status is past QUEUED."
        )
    parts = await anyio.to_thread.run_sync(dataset_files, Path(job.dataset_path), filename)
    if parts is None:
        raise NotFound(
            f"Fine-tuning job {job_id}'s {filename} is no longer complete: files of it under "
            "the server's data directory (CHORUS_DATA_DIR) were removed. A later job's dataset "
            "is written whole again."
        )
    return parts


async def _joined(parts: list[Part]) -> AsyncIterator[bytes]:
    for part in parts:
        async with await anyio.open_file(part.path, "rb") as file:
            while chunk := await file.read(CHUNK_BYTES):
                yield chunk


def routes() -> list[BaseRoute]:
    def download(filename: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            job_id: int = request.path_params["job_id"]
            services = services_of(request)
            try:
                caller = await services.auth.require_user(request.headers)
                parts = await _dataset_parts(services.db, caller, job_id, filename)
            except ChorusError as error:
                return error_response(request.url.path, error)
            return StreamingResponse(
                _joined(parts),
                media_type=MEDIA_TYPE,
                headers={
                    "content-length": str(sum(part.size for part in parts)),
                    "content-disposition": (
                        f'attachment; filename="fine-tune-job-{job_id}-{filename}"'
                    ),
                },
            )

        return endpoint

    return [
        Route(f"/fine-tune-jobs/{{job_id:int}}/{filename}", download(filename))
        for filename in (DATASET, PREFERENCES)
    ]
