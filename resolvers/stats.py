"""Resolvers of statistics: totals, the model leaderboard and the quality trend."""

from __future__ import annotations

from models import history
from models.errors import BadUserInput
from resolvers.context import Info
from schema import types

MAX_TREND_DAYS = 366


async def training_stats(info: Info, user_id: int | None) -> types.TrainingStats:
    owner = info.context.scope(user_id)
    async with info.context.db() as db:
        stats = await history.training_stats(db, owner)
    return types.TrainingStats(
        total_sessions=stats.total_sessions,
        total_examples_generated=stats.total_examples_generated,
        total_stories_saved=stats.total_stories_saved,
        average_quality=stats.average_quality,
        total_training_time_seconds=stats.total_training_time_seconds,
        fine_tuning_sessions_count=stats.fine_tuning_sessions_count,
        fine_tuning_examples=stats.fine_tuning_examples,
        until_next_fine_tuning=stats.until_next_fine_tuning,
        fine_tuning_threshold=history.FINE_TUNING_THRESHOLD,
    )


async def model_leaderboard(info: Info, user_id: int | None) -> list[types.ModelLeaderboardEntry]:
    owner = info.context.scope(user_id)
    async with info.context.db() as db:
        entries = await history.model_leaderboard(db, owner)
    return [
        types.ModelLeaderboardEntry(
            model=entry.model,
            wins=entry.wins,
            average_quality=entry.average_quality,
            sessions=entry.sessions,
        )
        for entry in entries
    ]


async def quality_trend(info: Info, days: int, user_id: int | None) -> list[types.QualityPoint]:
    owner = info.context.scope(user_id)
    if not 1 <= days <= MAX_TREND_DAYS:
        raise BadUserInput(
            f"`days` must be between 1 and {MAX_TREND_DAYS}; got {days}.", field="days"
        )
    async with info.context.db() as db:
        points = await history.quality_trend(db, owner, days)
    return [
        types.QualityPoint(
            day=point.day, sessions=point.sessions, average_quality=point.average_quality
        )
        for point in points
    ]
