"""The original `POST /auto-train`: run a session to its end and answer with its results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models.enums import VotingStrategy
from models.errors import ChorusError
from models.history import FINE_TUNING_THRESHOLD, fine_tuning_examples_collected
from models.sessions import check_queue_room
from models.tables import TrainingHistory
from models.users import owner_for, owner_of
from server.failures import error_response
from server.rest import read_body
from server.services import services_of
from trainer.catalog import parse_genre
from trainer.plan import make_plan


class AutoTrainRequest(BaseModel):
    """The original body, plus the choices Chorus adds (all optional)."""

    model_config = ConfigDict(extra="forbid")

    user_id: int | None = None
    num_examples: int = Field(10)
    genres: list[str] = Field(default_factory=list)
    store_in_memory: bool = False
    save_to_database: bool = False
    voting: VotingStrategy | None = None
    teachers: list[str] | None = None
    seed: int | None = None

    @field_validator("voting", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def results(history: TrainingHistory, collected: int) -> dict[str, Any]:
    """The original response fields, from the stored session."""
    performance = json.loads(history.model_performance_json or "{}")
    return {
        "session_id": history.session_id,
        "status": history.status.name,
        "total_requested": history.num_examples_requested,
        "successful": history.num_examples_successful,
        "failed": history.num_examples_failed,
        "stories_saved": history.stories_saved_count,
        "model_performance": {
            model: {"count": entry["count"], "avg_quality": entry["avg_quality"]}
            for model, entry in performance.items()
        },
        "best_performing_model": history.best_performing_model,
        "average_quality": history.average_quality,
        "min_quality": history.min_quality,
        "max_quality": history.max_quality,
        "genre_distribution": json.loads(history.genre_distribution_json or "{}"),
        "training_stats": {
            "training_examples": collected,
            "fine_tuning_threshold": FINE_TUNING_THRESHOLD,
            "until_next_fine_tuning": FINE_TUNING_THRESHOLD - collected % FINE_TUNING_THRESHOLD,
            "fine_tuning_triggered": history.fine_tuning_triggered,
        },
        "total_time_seconds": history.total_time_seconds,
    }


def route() -> Route:
    async def auto_train(request: Request) -> Response:
        services = services_of(request)
        try:
            caller = await services.auth.require_user(request.headers)
            payload = await read_body(request, AutoTrainRequest)
            owner_id = owner_for(caller, payload.user_id, "user_id")
            manager = services.manager
            plan = make_plan(
                manager.teachers,
                num_examples=payload.num_examples,
                genres=[parse_genre(name) for name in payload.genres],
                teachers=payload.teachers,
                voting=payload.voting,
                seed=payload.seed,
                store_in_memory=payload.store_in_memory,
                save_to_database=payload.save_to_database,
            )
            async with services.db() as db:
                owner = await owner_of(db, owner_id)
                await check_queue_room(db, owner.id, services.settings.max_queued_sessions_per_user)
            started = await manager.start(owner, plan)
            await manager.wait(started.id)
            async with services.db() as db:
                history = await db.get(TrainingHistory, started.id)
                assert history is not None
                collected = await fine_tuning_examples_collected(db, owner_id)
            return JSONResponse(results(history, collected))
        except ChorusError as error:
            return error_response(request.url.path, error)

    return Route("/auto-train", auto_train, methods=["POST"])
