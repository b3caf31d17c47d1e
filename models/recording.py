"""Recording a session run by an external trainer, validated before anything is written."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Genre, SessionStatus, VotingStrategy
from models.errors import BadUserInput, Conflict
from models.history import session_by_id
from models.tables import SessionGenreCount, TrainingHistory, User
from models.totals import ModelScore, add_session


@dataclass(frozen=True)
class RecordedSession:
    """The original POST /api/training-history payload, parsed into Chorus's types."""

    session_id: str
    num_examples_requested: int
    num_examples_successful: int
    num_examples_failed: int
    started_at: datetime
    completed_at: datetime
    genres_selected: Sequence[Genre] = ()
    stored_in_memory: bool = False
    saved_to_database: bool = False
    stories_saved_count: int = 0
    average_quality: float | None = None
    min_quality: float | None = None
    max_quality: float | None = None
    best_performing_model: str | None = None
    model_performance_json: str | None = None
    genre_distribution_json: str | None = None
    model_performance: Mapping[str, ModelScore] = field(default_factory=dict)
    genre_distribution: Mapping[Genre, int] = field(default_factory=dict)
    total_time_seconds: int | None = None
    training_examples_before: int = 0
    training_examples_after: int | None = None
    fine_tuning_triggered: bool = False


def validate(record: RecordedSession) -> None:
    """Raise BadUserInput naming the first field that is wrong."""
    if not 1 <= len(record.session_id.strip()) <= 100:
        raise BadUserInput("`sessionId` must be 1 to 100 characters.", field="sessionId")
    for name, value in (
        ("numExamplesRequested", record.num_examples_requested),
        ("numExamplesSuccessful", record.num_examples_successful),
        ("numExamplesFailed", record.num_examples_failed),
        ("storiesSavedCount", record.stories_saved_count),
        ("trainingExamplesBefore", record.training_examples_before),
        ("trainingExamplesAfter", record.training_examples_after),
        ("totalTimeSeconds", record.total_time_seconds),
    ):
        if value is not None and value < 0:
            raise BadUserInput(f"`{name}` must not be negative; got {value}.", field=name)
    if record.num_examples_requested < 1:
        raise BadUserInput(
            "`numExamplesRequested` must be at least 1.", field="numExamplesRequested"
        )
    if record.num_examples_successful + record.num_examples_failed != record.num_examples_requested:
        raise BadUserInput(
            "`numExamplesSuccessful` + `numExamplesFailed` must equal `numExamplesRequested`: "
            f"{record.num_examples_successful} + {record.num_examples_failed} != "
            f"{record.num_examples_requested}.",
            field="numExamplesSuccessful",
        )
    if record.stories_saved_count > record.num_examples_successful:
        raise BadUserInput(
            "`storiesSavedCount` cannot exceed `numExamplesSuccessful`.", field="storiesSavedCount"
        )
    _validate_qualities(record)
    if record.completed_at < record.started_at:
        raise BadUserInput("`completedAt` must not be before `startedAt`.", field="completedAt")
    if record.best_performing_model is not None and len(record.best_performing_model) > 100:
        raise BadUserInput(
            "`bestPerformingModel` is at most 100 characters.", field="bestPerformingModel"
        )
    for model in record.model_performance:
        if not 1 <= len(model) <= 100:
            raise BadUserInput(
                "Model names in `modelPerformanceJson` are 1 to 100 characters.",
                field="modelPerformanceJson",
            )


def _validate_qualities(record: RecordedSession) -> None:
    given = [
        (name, value)
        for name, value in (
            ("minQuality", record.min_quality),
            ("averageQuality", record.average_quality),
            ("maxQuality", record.max_quality),
        )
        if value is not None
    ]
    for name, value in given:
        if not 0.0 <= value <= 10.0:
            raise BadUserInput(f"`{name}` must be between 0 and 10; got {value}.", field=name)
    for (low_name, low), (high_name, high) in itertools.pairwise(given):
        if low > high:
            raise BadUserInput(
                f"Qualities must satisfy minQuality <= averageQuality <= maxQuality; "
                f"`{low_name}` {low} > `{high_name}` {high}.",
                field=low_name,
            )


async def record_session(db: AsyncSession, user: User, record: RecordedSession) -> TrainingHistory:
    """Validate and store; a duplicate `sessionId` is a Conflict, and nothing is written."""
    validate(record)
    if await session_by_id(db, record.session_id) is not None:
        raise Conflict(
            f"A session with sessionId {record.session_id!r} is already recorded.",
            field="sessionId",
        )
    after = record.training_examples_after
    history = TrainingHistory(
        user_id=user.id,
        session_id=record.session_id,
        num_examples_requested=record.num_examples_requested,
        num_examples_successful=record.num_examples_successful,
        num_examples_failed=record.num_examples_failed,
        genres_selected=json.dumps([genre.name for genre in record.genres_selected]),
        stored_in_memory=record.stored_in_memory,
        saved_to_database=record.saved_to_database,
        stories_saved_count=record.stories_saved_count,
        average_quality=record.average_quality,
        min_quality=record.min_quality,
        max_quality=record.max_quality,
        best_performing_model=record.best_performing_model,
        model_performance_json=record.model_performance_json,
        genre_distribution_json=record.genre_distribution_json,
        total_time_seconds=record.total_time_seconds,
        training_examples_before=record.training_examples_before,
        training_examples_after=after,
        fine_tuning_triggered=record.fine_tuning_triggered,
        fine_tuning_examples=max(0, after - record.training_examples_before) if after else 0,
        started_at=record.started_at,
        completed_at=record.completed_at,
        status=SessionStatus.COMPLETED,
        voting_strategy=VotingStrategy.JURY,
        teachers_json=json.dumps(sorted(record.model_performance)),
    )
    db.add(history)
    try:
        await db.flush()
    except IntegrityError as error:
        await db.rollback()
        raise Conflict(
            f"A session with sessionId {record.session_id!r} is already recorded.",
            field="sessionId",
        ) from error
    await add_session(db, history, record.model_performance)
    db.add_all(
        SessionGenreCount(history_id=history.id, genre=genre, count=n)
        for genre, n in record.genre_distribution.items()
    )
    await db.commit()
    return history
