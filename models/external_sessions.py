"""Sessions run by an external trainer, taken in as the original training-history service
took them: its fields read into Chorus's types, checked, and stored like a trained session.

`Mutation.recordTrainingSession` and `POST /api/training-history` both record through here.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import limits
from models.enums import Genre, SessionStatus, VotingStrategy
from models.errors import BadUserInput, Conflict
from models.history import session_by_id
from models.sessions import lock_user
from models.tables import SessionGenreCount, TrainingHistory, User
from models.totals import ModelScore, add_session, check_totals, too_large

# Reads one genre name leniently ("sci-fi" is SCIENCE_FICTION); the catalog above this layer
# knows the labels and aliases, so its reader is passed in.
GenreParser = Callable[[str], Genre]


@dataclasses.dataclass(frozen=True)
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
    model_performance: Mapping[str, ModelScore] = dataclasses.field(default_factory=dict)
    genre_distribution: Mapping[Genre, int] = dataclasses.field(default_factory=dict)
    total_time_seconds: int | None = None
    training_examples_before: int = 0
    training_examples_after: int | None = None
    fine_tuning_triggered: bool = False


_PARSED = frozenset(
    {"started_at", "completed_at", "genres_selected", "model_performance", "genre_distribution"}
)
_TAKEN_AS_GIVEN = tuple(
    f.name for f in dataclasses.fields(RecordedSession) if f.name not in _PARSED
)


def recorded_session(given: Mapping[str, Any], parse_genre: GenreParser) -> RecordedSession:
    """A session from the original fields by their snake_case names, as the GraphQL input and
    the REST body both give them: its instants in UTC, its genres and JSON fields parsed.

    Raises BadUserInput naming the field that cannot be read.
    """
    return RecordedSession(
        **{name: given[name] for name in _TAKEN_AS_GIVEN if name in given},
        started_at=limits.instant(given["started_at"], "startedAt"),
        completed_at=limits.instant(given["completed_at"], "completedAt"),
        genres_selected=_genres_selected(given.get("genres_selected"), parse_genre),
        model_performance=_model_performance(given.get("model_performance_json")),
        genre_distribution=_genre_distribution(given.get("genre_distribution_json"), parse_genre),
    )


# The original documentation's example posts the placeholder "{...}" for both JSON fields;
# it is kept as given and counts as empty, so that example records as it is.
_PLACEHOLDERS = frozenset({"{...}", "[...]"})


def _load(text: str, field: str) -> Any:
    if text.strip() in _PLACEHOLDERS:
        return {}
    return limits.parse_json(text, field)


def _count(value: object, field: str, what: str) -> int:
    """A count inside a JSON field: a whole number that GraphQL's Int holds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadUserInput(f"`{field}`: {what} must be a number; got {value!r}.", field=field)
    if not (value == int(value) and 0 <= value <= limits.INT_MAX):
        raise BadUserInput(
            f"`{field}`: {what} must be a whole number from 0 to {limits.INT_MAX:,}; "
            f"got {value!r}.",
            field=field,
        )
    return int(value)


def _number(value: object, field: str, what: str, high: float = limits.MAX_QUALITY) -> float:
    """A quality (or a sum of them, up to `high`) inside a JSON field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadUserInput(f"`{field}`: {what} must be a number; got {value!r}.", field=field)
    if not 0 <= value <= high:
        raise BadUserInput(
            f"`{field}`: {what} must be between 0 and {high:g}; got {value!r}.", field=field
        )
    return float(value)


def _genre(name: object, field: str, parse_genre: GenreParser) -> Genre:
    if isinstance(name, Genre):
        return name
    if not isinstance(name, str):
        raise BadUserInput(f"`{field}`: genre names are strings; got {name!r}.", field=field)
    try:
        return parse_genre(name)
    except BadUserInput as error:
        raise BadUserInput(f"`{field}`: {error.message}", field=field) from error


def _genres_selected(given: object, parse_genre: GenreParser) -> list[Genre]:
    """Genres as GraphQL gives them, or names: in a list, or in the original's JSON text of
    a list, e.g. `'["fantasy", "sci-fi"]'`."""
    field = "genresSelected"
    if given is None:
        return []
    if isinstance(given, str):
        given = _load(given, field) if given.strip() else []
    if not isinstance(given, list):
        raise BadUserInput(
            f'`{field}` must be a JSON list like ["fantasy", "sci-fi"].', field=field
        )
    return [_genre(name, field, parse_genre) for name in given]


def _model_performance(text: str | None) -> dict[str, ModelScore]:
    """`{"model": {"count": n, "avg_quality": q}}`, the original format.

    `wins` may stand for `count`, `average_quality` for `avg_quality`, and a `total_quality`
    given is kept as it is rather than derived.
    """
    field = "modelPerformanceJson"
    if text is None or not text.strip():
        return {}
    data = _load(text, field)
    if not isinstance(data, Mapping):
        raise BadUserInput(
            f'`{field}` must be an object like {{"model": {{"count": 3, "avg_quality": 8.1}}}}.',
            field=field,
        )
    scores = {}
    for model, entry in data.items():
        if not isinstance(entry, Mapping):
            raise BadUserInput(f"`{field}`: the entry of {model!r} must be an object.", field=field)
        wins = _count(entry.get("count", entry.get("wins", 0)), field, f"{model!r} count")
        if "total_quality" in entry:
            # At most every win of the best quality.
            highest = limits.MAX_QUALITY * wins
            total = _number(entry["total_quality"], field, f"{model!r} total_quality", highest)
        else:
            average = _number(
                entry.get("avg_quality", entry.get("average_quality", 0)),
                field,
                f"{model!r} avg_quality",
            )
            total = average * wins
        scores[str(model)] = ModelScore(wins=wins, total_quality=total)
    return scores


def _genre_distribution(text: str | None, parse_genre: GenreParser) -> dict[Genre, int]:
    """`{"fantasy": 3, "sci-fi": 2}`, or a list of genre names each counted once."""
    field = "genreDistributionJson"
    if text is None or not text.strip():
        return {}
    data = _load(text, field)
    counts: dict[Genre, int] = {}
    if isinstance(data, list):
        for name in data:
            genre = _genre(name, field, parse_genre)
            counts[genre] = counts.get(genre, 0) + 1
        return counts
    if not isinstance(data, Mapping):
        raise BadUserInput(f'`{field}` must be an object like {{"fantasy": 3}}.', field=field)
    for name, value in data.items():
        number = _count(value, field, f"the count of {name!r}")
        genre = _genre(name, field, parse_genre)
        # Two spellings of one genre ("sci-fi", "science fiction") add up.
        counts[genre] = _count(counts.get(genre, 0) + number, field, f"the count of {genre.name}")
    return counts


def validate(record: RecordedSession) -> None:
    """Raise BadUserInput naming the first field that is wrong."""
    limits.name(record.session_id, "sessionId")
    for name, value in (
        ("numExamplesRequested", record.num_examples_requested),
        ("numExamplesSuccessful", record.num_examples_successful),
        ("numExamplesFailed", record.num_examples_failed),
        ("storiesSavedCount", record.stories_saved_count),
        ("trainingExamplesBefore", record.training_examples_before),
        ("trainingExamplesAfter", record.training_examples_after),
        ("totalTimeSeconds", record.total_time_seconds),
    ):
        if value is not None:
            limits.whole(value, name)
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
    if record.best_performing_model is not None:
        limits.name(record.best_performing_model, "bestPerformingModel")
    if len(record.genres_selected) > limits.LIST_MAX_ITEMS:
        raise BadUserInput(
            f"`genresSelected` names at most {limits.LIST_MAX_ITEMS} genres.",
            field="genresSelected",
        )
    for model in record.model_performance:
        try:
            limits.name(model, "modelPerformanceJson")
        except BadUserInput:
            raise BadUserInput(
                "Model names in `modelPerformanceJson` are 1 to 100 characters.",
                field="modelPerformanceJson",
            ) from None


def _validate_qualities(record: RecordedSession) -> None:
    given = [
        (name, limits.quality(value, name))
        for name, value in (
            ("minQuality", record.min_quality),
            ("averageQuality", record.average_quality),
            ("maxQuality", record.max_quality),
        )
        if value is not None
    ]
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
    await lock_user(db, user.id)  # the user's row first, as `new_session` takes it
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
    try:
        await add_session(db, history, record.model_performance)
        db.add_all(
            SessionGenreCount(history_id=history.id, genre=genre, count=n)
            for genre, n in record.genre_distribution.items()
        )
        await db.flush()
        await check_totals(db, user.id)
    except DataError as error:  # MySQL/MariaDB refuse a total past their INT
        await db.rollback()
        raise BadUserInput(too_large()) from error
    except BadUserInput:
        await db.rollback()
        raise
    await db.commit()
    return history
