"""Recording external sessions: the JSON fields of the original format, parsed and checked.

Shared by `Mutation.recordTrainingSession` and `POST /api/training-history`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.base import as_utc
from models.enums import Genre
from models.errors import BadUserInput
from models.recording import RecordedSession, record_session
from models.tables import User
from models.totals import ModelScore
from models.users import user_by_id
from resolvers.context import Info
from schema import convert, inputs, types
from trainer.catalog import parse_genre

# The original documentation's example posts the placeholder "{...}" for both JSON fields;
# it is kept as given and counts as empty, so that example records as it is.
_PLACEHOLDERS = frozenset({"{...}", "[...]"})


def _load(text: str, field: str) -> Any:
    if text.strip() in _PLACEHOLDERS:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadUserInput(f"`{field}` is not valid JSON: {error.msg}.", field=field) from error


def _number(value: object, field: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadUserInput(f"`{field}`: {what} must be a number; got {value!r}.", field=field)
    return float(value)


def parse_model_performance(text: str | None) -> dict[str, ModelScore]:
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
        wins = _number(entry.get("count", entry.get("wins", 0)), field, f"{model!r} count")
        if wins < 0 or wins != int(wins):
            raise BadUserInput(
                f"`{field}`: {model!r} count must be a whole number >= 0.", field=field
            )
        if "total_quality" in entry:
            total = _number(entry["total_quality"], field, f"{model!r} total_quality")
        else:
            average = _number(
                entry.get("avg_quality", entry.get("average_quality", 0)),
                field,
                f"{model!r} avg_quality",
            )
            if not 0 <= average <= 10:
                raise BadUserInput(
                    f"`{field}`: {model!r} avg_quality must be between 0 and 10.", field=field
                )
            total = average * wins
        scores[str(model)] = ModelScore(wins=int(wins), total_quality=total)
    return scores


def parse_genre_distribution(text: str | None) -> dict[Genre, int]:
    """`{"fantasy": 3, "sci-fi": 2}`, or a list of genre names each counted once."""
    field = "genreDistributionJson"
    if text is None or not text.strip():
        return {}
    data = _load(text, field)
    counts: dict[Genre, int] = {}
    if isinstance(data, list):
        for name in data:
            genre = _genre(name, field)
            counts[genre] = counts.get(genre, 0) + 1
        return counts
    if not isinstance(data, Mapping):
        raise BadUserInput(f'`{field}` must be an object like {{"fantasy": 3}}.', field=field)
    for name, value in data.items():
        number = _number(value, field, f"the count of {name!r}")
        if number < 0 or number != int(number):
            raise BadUserInput(
                f"`{field}`: the count of {name!r} must be a whole number >= 0.", field=field
            )
        genre = _genre(name, field)
        counts[genre] = counts.get(genre, 0) + int(number)
    return counts


def parse_genre_names(text: str | None, field: str = "genresSelected") -> list[Genre]:
    """A JSON list of genre names as the original sent it, e.g. `["fantasy", "sci-fi"]`."""
    if text is None or not text.strip():
        return []
    data = _load(text, field)
    if not isinstance(data, list):
        raise BadUserInput(
            f'`{field}` must be a JSON list like ["fantasy", "sci-fi"].', field=field
        )
    return [_genre(name, field) for name in data]


def _genre(name: object, field: str) -> Genre:
    if not isinstance(name, str):
        raise BadUserInput(f"`{field}`: genre names are strings; got {name!r}.", field=field)
    try:
        return parse_genre(name)
    except BadUserInput as error:
        raise BadUserInput(f"`{field}`: {error.message}", field=field) from error


_PARSED = frozenset(
    {"started_at", "completed_at", "genres_selected", "model_performance", "genre_distribution"}
)
_TAKEN_AS_GIVEN = tuple(f.name for f in fields(RecordedSession) if f.name not in _PARSED)


def recorded_session(given: Mapping[str, Any], genres_selected: list[Genre]) -> RecordedSession:
    """A session in the original format, by its fields' snake_case names, with its instants
    in UTC and its JSON fields parsed: the GraphQL input and the REST body both map here."""
    return RecordedSession(
        **{name: given[name] for name in _TAKEN_AS_GIVEN if name in given},
        started_at=as_utc(given["started_at"]),
        completed_at=as_utc(given["completed_at"]),
        genres_selected=genres_selected,
        model_performance=parse_model_performance(given.get("model_performance_json")),
        genre_distribution=parse_genre_distribution(given.get("genre_distribution_json")),
    )


async def record_training_session(
    info: Info, data: inputs.TrainingSessionInput
) -> types.TrainingSession:
    context = info.context
    owner_id = context.scope(data.user_id)
    record = recorded_session(vars(data), list(data.genres_selected))
    async with context.db() as db:
        owner = await owner_of(db, owner_id)
        row = await record_session(db, owner, record)
    return convert.session(row)


async def owner_of(db: AsyncSession, user_id: int) -> User:
    owner = await user_by_id(db, user_id)
    if owner is None:
        raise BadUserInput(f"There is no user with id {user_id}.", field="userId")
    return owner
