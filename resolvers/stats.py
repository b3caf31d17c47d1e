"""Resolvers of statistics: totals, the model leaderboard and the quality trend."""

from __future__ import annotations

from models import history
from models.errors import BadUserInput
from resolvers.context import Info

MAX_TREND_DAYS = 366


async def training_stats(info: Info, user_id: int | None) -> history.TrainingStats:
    owner = info.context.scope(user_id)
    async with info.context.db() as db:
        return await history.training_stats(db, owner)


async def model_leaderboard(info: Info, user_id: int | None) -> list[history.LeaderboardEntry]:
    owner = info.context.scope(user_id)
    async with info.context.db() as db:
        return await history.model_leaderboard(db, owner)


async def quality_trend(info: Info, days: int, user_id: int | None) -> list[history.QualityPoint]:
    owner = info.context.scope(user_id)
    if not 1 <= days <= MAX_TREND_DAYS:
        raise BadUserInput(
            f"`days` must be between 1 and {MAX_TREND_DAYS}; got {days}.", field="days"
        )
    async with info.context.db() as db:
        return await history.quality_trend(db, owner, days)
