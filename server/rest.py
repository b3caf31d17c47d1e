"""The original training-history REST API: its paths and its camelCase JSON shapes.

Backed by the same queries as GraphQL, with the same tokens and the same scoping.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from models import history, limits
from models.errors import BadRequest, BadUserInput, ChorusError, NotFound
from models.external_sessions import record_session, recorded_session
from models.tables import TrainingHistory, User
from models.users import owner_for, owner_of
from server.failures import error_response
from server.logs import bind_request
from server.services import services_of
from trainer import log_context
from trainer.catalog import parse_genre

MAX_PAGE_SIZE = 100
MAX_PAGE_NUMBER = 10_000_000
Handler = Callable[[Request, User], Awaitable[Response]]


def answer_name(field: str) -> str:
    """A field's name in the original's answers: camelCase, but `finetuningTriggered`."""
    return "finetuningTriggered" if field == "fine_tuning_triggered" else to_camel(field)


def _body_name(field: str) -> str | AliasChoices:
    """A field's name in a body: as answers spell it, and `fineTuningTriggered` too."""
    if field == "fine_tuning_triggered":
        return AliasChoices("finetuningTriggered", "fineTuningTriggered")
    return to_camel(field)


class TrainingHistoryBody(BaseModel):
    """The body of `POST /api/training-history`: the original record's fields, in its order."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=AliasGenerator(
            validation_alias=_body_name, serialization_alias=answer_name
        ),
    )

    user_id: int | None = None
    session_id: str
    num_examples_requested: int
    num_examples_successful: int
    num_examples_failed: int
    genres_selected: str | list[str] | None = None
    stored_in_memory: bool = False
    saved_to_database: bool = False
    stories_saved_count: int = 0
    average_quality: float | None = None
    min_quality: float | None = None
    max_quality: float | None = None
    best_performing_model: str | None = None
    model_performance_json: str | None = None
    genre_distribution_json: str | None = None
    total_time_seconds: int | None = None
    training_examples_before: int = 0
    training_examples_after: int | None = None
    fine_tuning_triggered: bool = False
    started_at: datetime
    completed_at: datetime


# An answer is the record as the original stored it (its id, the body's fields, its
# createdAt), then the fields Chorus adds.
HISTORY_FIELDS = (
    "id",
    *TrainingHistoryBody.model_fields,
    "created_at",
    "status",
    "voting_strategy",
    "teachers",
    "updated_at",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "max_cost_usd",
    "end_reason",
)
STATS_FIELDS = (
    "total_sessions",
    "total_examples_generated",
    "total_stories_saved",
    "average_quality",
    "total_training_time_seconds",
    "fine_tuning_sessions_count",
    "fine_tuning_examples",
    "until_next_fine_tuning",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "sessions_with_known_cost",
)


def history_json(row: TrainingHistory) -> dict[str, Any]:
    """A session in the original JSON shape, with Chorus's extra fields after it."""
    return {answer_name(field): _json_value(row, field) for field in HISTORY_FIELDS}


def _json_value(row: TrainingHistory, field: str) -> Any:
    if field == "teachers":
        return json.loads(row.teachers_json or "[]")
    value = getattr(row, field)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    return value


Body = TypeVar("Body", bound=BaseModel)


async def read_json(request: Request) -> Any:
    """The request's body as JSON, read no further than `limits.BODY_MAX_BYTES` and checked
    as `limits.parse_json` checks; a BadRequest saying what is wrong with it."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.BODY_MAX_BYTES:
            raise BadRequest(f"The request body is larger than {limits.BODY_MAX_BYTES:,} bytes.")
    return limits.parse_json(bytes(body), max_bytes=limits.BODY_MAX_BYTES)


async def read_body(request: Request, model: type[Body]) -> Body:
    """The request's JSON object as `model`; a BadUserInput naming the first wrong field."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
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
            bind_request(request, user_id=None)
            try:
                caller = await services_of(request).auth.require_user(request.headers)
                log_context.user_id.set(caller.id)
                return await handler(request, caller)
            except ChorusError as error:
                return error_response(request.url.path, error)

        return run

    async def save(request: Request, caller: User) -> Response:
        body = await read_body(request, TrainingHistoryBody)
        owner_id = owner_for(caller, body.user_id, "userId")
        record = recorded_session(body.model_dump(), parse_genre)
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
        page = _int_param(request, "page", 0, 0, MAX_PAGE_NUMBER)
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
        return JSONResponse({answer_name(field): getattr(result, field) for field in STATS_FIELDS})

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
