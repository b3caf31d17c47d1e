"""The original training-history REST API: its paths and its camelCase JSON shapes.

Backed by the same queries as GraphQL, with the same tokens and the same scoping.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from models import history
from models.errors import BadUserInput, ChorusError, NotFound
from models.external_sessions import RecordedSession, record_session, recorded_session
from models.tables import TrainingHistory, User
from models.users import owner_for, owner_of
from server.auth import require_user
from server.services import services_of
from trainer.catalog import parse_genre

MAX_PAGE_SIZE = 100
Handler = Callable[[Request, User], Awaitable[Response]]


class TrainingHistoryPayload(BaseModel):
    """The body of `POST /api/training-history`, as the original documentation shows it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: int | None = Field(None, alias="userId")
    session_id: str = Field(alias="sessionId")
    num_examples_requested: int = Field(alias="numExamplesRequested")
    num_examples_successful: int = Field(alias="numExamplesSuccessful")
    num_examples_failed: int = Field(alias="numExamplesFailed")
    genres_selected: str | list[str] | None = Field(None, alias="genresSelected")
    stored_in_memory: bool = Field(False, alias="storedInMemory")
    saved_to_database: bool = Field(False, alias="savedToDatabase")
    stories_saved_count: int = Field(0, alias="storiesSavedCount")
    average_quality: float | None = Field(None, alias="averageQuality")
    min_quality: float | None = Field(None, alias="minQuality")
    max_quality: float | None = Field(None, alias="maxQuality")
    best_performing_model: str | None = Field(None, alias="bestPerformingModel")
    model_performance_json: str | None = Field(None, alias="modelPerformanceJson")
    genre_distribution_json: str | None = Field(None, alias="genreDistributionJson")
    total_time_seconds: int | None = Field(None, alias="totalTimeSeconds")
    training_examples_before: int = Field(0, alias="trainingExamplesBefore")
    training_examples_after: int | None = Field(None, alias="trainingExamplesAfter")
    fine_tuning_triggered: bool = Field(
        False, validation_alias=AliasChoices("finetuningTriggered", "fineTuningTriggered")
    )
    started_at: datetime = Field(alias="startedAt")
    completed_at: datetime = Field(alias="completedAt")

    def to_record(self) -> RecordedSession:
        return recorded_session(self.model_dump(), parse_genre)


def history_json(row: TrainingHistory) -> dict[str, Any]:
    """A session in the original JSON shape, with Chorus's extra fields after it."""
    return {
        "id": row.id,
        "userId": row.user_id,
        "sessionId": row.session_id,
        "numExamplesRequested": row.num_examples_requested,
        "numExamplesSuccessful": row.num_examples_successful,
        "numExamplesFailed": row.num_examples_failed,
        "genresSelected": row.genres_selected,
        "storedInMemory": row.stored_in_memory,
        "savedToDatabase": row.saved_to_database,
        "storiesSavedCount": row.stories_saved_count,
        "averageQuality": row.average_quality,
        "minQuality": row.min_quality,
        "maxQuality": row.max_quality,
        "bestPerformingModel": row.best_performing_model,
        "modelPerformanceJson": row.model_performance_json,
        "genreDistributionJson": row.genre_distribution_json,
        "totalTimeSeconds": row.total_time_seconds,
        "trainingExamplesBefore": row.training_examples_before,
        "trainingExamplesAfter": row.training_examples_after,
        "finetuningTriggered": row.fine_tuning_triggered,
        "startedAt": row.started_at.isoformat(),
        "completedAt": row.completed_at.isoformat() if row.completed_at else None,
        "createdAt": row.created_at.isoformat(),
        "status": row.status.name,
        "votingStrategy": row.voting_strategy.name,
        "teachers": json.loads(row.teachers_json or "[]"),
        "updatedAt": row.updated_at.isoformat(),
    }


def error_json(error: ChorusError) -> JSONResponse:
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


Body = TypeVar("Body", bound=BaseModel)


async def read_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON object as `model`; a BadUserInput naming the first wrong field."""
    try:
        body = await request.json()
    except ValueError:
        raise BadUserInput("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise BadUserInput("The body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise BadUserInput(f"`{field}`: {first['msg']}.", field=field) from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadUserInput(f"`{name}` must be a whole number; got {raw!r}.", field=name) from None
    if not low <= value <= high:
        raise BadUserInput(f"`{name}` must be between {low} and {high}; got {value}.", field=name)
    return value


def _path_user(request: Request, caller: User) -> int:
    return owner_for(caller, request.path_params["user_id"], "userId")


def routes() -> list[BaseRoute]:
    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                caller = await require_user(services_of(request).db, request.headers)
                return await handler(request, caller)
            except ChorusError as error:
                return error_json(error)

        return run

    async def save(request: Request, caller: User) -> Response:
        payload = await read_body(request, TrainingHistoryPayload)
        owner_id = owner_for(caller, payload.user_id, "userId")
        record = payload.to_record()
        async with services_of(request).db() as db:
            owner = await owner_of(db, owner_id)
            row = await record_session(db, owner, record)
        return JSONResponse(history_json(row), status_code=201)

    async def by_user(request: Request, caller: User) -> Response:
        owner = _path_user(request, caller)
        async with services_of(request).db() as db:
            rows = await history.all_history(db, owner)
        return JSONResponse([history_json(row) for row in rows])

    async def paginated(request: Request, caller: User) -> Response:
        owner = _path_user(request, caller)
        page = _int_param(request, "page", 0, 0, 10_000_000)
        size = _int_param(request, "size", 10, 1, MAX_PAGE_SIZE)
        async with services_of(request).db() as db:
            rows, total = await history.history_by_page_number(db, owner, page, size)
        return JSONResponse(
            {
                "content": [history_json(row) for row in rows],
                "totalElements": total,
                "totalPages": math.ceil(total / size),
                "number": page,
                "size": size,
            }
        )

    async def by_session(request: Request, caller: User) -> Response:
        session_id = request.path_params["session_id"]
        async with services_of(request).db() as db:
            row = await history.session_by_id(db, session_id)
        if row is None or (row.user_id != caller.id and not caller.is_admin):
            raise NotFound(f"No training session {session_id!r}.")
        return JSONResponse(history_json(row))

    async def stats(request: Request, caller: User) -> Response:
        owner = _path_user(request, caller)
        async with services_of(request).db() as db:
            result = await history.training_stats(db, owner)
        return JSONResponse(
            {
                "totalSessions": result.total_sessions,
                "totalExamplesGenerated": result.total_examples_generated,
                "totalStoriesSaved": result.total_stories_saved,
                "averageQuality": result.average_quality,
                "totalTrainingTimeSeconds": result.total_training_time_seconds,
                "fineTuningSessionsCount": result.fine_tuning_sessions_count,
                "fineTuningExamples": result.fine_tuning_examples,
                "untilNextFineTuning": result.until_next_fine_tuning,
            }
        )

    async def recent(request: Request, caller: User) -> Response:
        owner = _path_user(request, caller)
        limit = _int_param(request, "limit", 5, 1, MAX_PAGE_SIZE)
        async with services_of(request).db() as db:
            rows = await history.recent_sessions(db, owner, limit)
        return JSONResponse([history_json(row) for row in rows])

    base = "/training-history"
    return [
        Route(base, endpoint(save), methods=["POST"]),
        Route(base + "/user/{user_id:int}", endpoint(by_user)),
        Route(base + "/user/{user_id:int}/paginated", endpoint(paginated)),
        Route(base + "/user/{user_id:int}/stats", endpoint(stats)),
        Route(base + "/user/{user_id:int}/recent", endpoint(recent)),
        Route(base + "/session/{session_id}", endpoint(by_session)),
    ]
