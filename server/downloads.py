"""Downloads of a fine-tuning job's datasets, for its owner or an admin.

`GET /api/fine-tune-jobs/{id}/dataset.jsonl` and `.../preferences.jsonl`: the files the
fine-tuner wrote, streamed as JSON Lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from models.errors import ChorusError, NotFound
from models.limits import ID_MAX
from models.tables import FineTuneJob, User
from server.failures import error_response
from server.services import services_of
from trainer.finetune import DATASET, PREFERENCES

MEDIA_TYPE = "application/x-ndjson"


async def _dataset_file(
    db: async_sessionmaker[AsyncSession], caller: User, job_id: int, filename: str
) -> Path:
    if not 1 <= job_id <= ID_MAX:
        raise NotFound(f"No fine-tuning job {job_id}.")
    async with db() as transaction:
        job = await transaction.get(FineTuneJob, job_id)
    if job is None or (job.user_id != caller.id and not caller.is_admin):
        raise NotFound(f"No fine-tuning job {job_id}.")
    path = Path(job.dataset_path) / filename if job.dataset_path else None
    if path is None or not path.is_file():
        raise NotFound(
            f"Fine-tuning job {job_id} has no dataset yet; it is written when the job starts. "
            "Ask again once its status is past QUEUED."
        )
    return path


def routes() -> list[BaseRoute]:
    def download(filename: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            job_id: int = request.path_params["job_id"]
            services = services_of(request)
            try:
                caller = await services.auth.require_user(request.headers)
                path = await _dataset_file(services.db, caller, job_id, filename)
            except ChorusError as error:
                return error_response(request.url.path, error)
            return FileResponse(
                path, media_type=MEDIA_TYPE, filename=f"fine-tune-job-{job_id}-{filename}"
            )

        return endpoint

    return [
        Route(f"/fine-tune-jobs/{{job_id:int}}/{filename}", download(filename))
        for filename in (DATASET, PREFERENCES)
    ]
