"""Input types of the API."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.enums import Genre, SessionStatus, VotingStrategy


@strawberry.input
class TrainingHistoryFilter:
    started_after: datetime | None = None
    started_before: datetime | None = None
    genre: Genre | None = None
    min_average_quality: float | None = None
    status: SessionStatus | None = None
    fine_tuning_triggered: bool | None = None


@strawberry.input(
    description="A session run by an external trainer, recorded as it is (the original "
    "POST /api/training-history)."
)
class TrainingSessionInput:
    session_id: str
    num_examples_requested: int
    num_examples_successful: int
    num_examples_failed: int
    started_at: datetime
    completed_at: datetime
    genres_selected: list[Genre] = strawberry.field(default_factory=list)
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
    user_id: int | None = strawberry.field(
        default=None, description="Whose session this is; only an admin may name another user."
    )


@strawberry.input
class StartTrainingInput:
    num_examples: int = strawberry.field(description="1 to 1000.")
    genres: list[Genre] = strawberry.field(
        default_factory=list, description="Empty: balanced random over all 25 genres."
    )
    store_in_memory: bool = False
    save_to_database: bool = False
    teachers: list[str] | None = strawberry.field(
        default=None, description="Names from Query.teachers; null: every available teacher."
    )
    voting: VotingStrategy | None = None
    seed: int | None = strawberry.field(
        default=None,
        description="Fixes the genre, prompt and style sampling for a reproducible session.",
    )
    max_cost_usd: float | None = strawberry.field(
        default=None,
        description="A budget in US dollars: the session starts no example whose projected "
        "cost would pass it, and ends COMPLETED with endReason BUDGET_REACHED. Every teacher "
        "needs a price.",
    )
