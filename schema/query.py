"""The root Query type: every field is a thin call into `resolvers`."""

from __future__ import annotations

import strawberry

from resolvers import account, catalog, memory, sessions, stats, training
from resolvers.context import Info
from schema import types
from schema.enums import Genre, HistoryOrder, VotingStrategy
from schema.inputs import TrainingHistoryFilter
from schema.node import Node


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await account.node(info, id)

    @strawberry.field
    def viewer(self, info: Info) -> types.User:
        return account.viewer(info)

    @strawberry.field(
        description="The viewer's sessions, newest first by default; keyset cursors. "
        "Admins may pass userId."
    )
    async def training_history(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: TrainingHistoryFilter | None = None,
        order_by: HistoryOrder | None = HistoryOrder.STARTED_AT_DESC,
        user_id: int | None = None,
    ) -> types.TrainingSessionConnection:
        return await sessions.training_history(
            info,
            first,
            after,
            last,
            before,
            filter,
            order_by or HistoryOrder.STARTED_AT_DESC,
            user_id,
        )

    @strawberry.field(
        description="Null when the session does not exist or belongs to another user."
    )
    async def training_session(self, info: Info, session_id: str) -> types.TrainingSession | None:
        return await sessions.training_session(info, session_id)

    @strawberry.field
    async def training_stats(self, info: Info, user_id: int | None = None) -> types.TrainingStats:
        return await stats.training_stats(info, user_id)

    @strawberry.field(description="The last finished sessions, newest by completion time.")
    async def recent_training_sessions(
        self, info: Info, limit: int = 5, user_id: int | None = None
    ) -> list[types.TrainingSession]:
        return await sessions.recent_training_sessions(info, limit, user_id)

    @strawberry.field
    async def model_leaderboard(
        self, info: Info, user_id: int | None = None
    ) -> list[types.ModelLeaderboardEntry]:
        return await stats.model_leaderboard(info, user_id)

    @strawberry.field(description="One point per UTC day of the last `days` days, oldest first.")
    async def quality_trend(
        self, info: Info, days: int = 30, user_id: int | None = None
    ) -> list[types.QualityPoint]:
        return await stats.quality_trend(info, days, user_id)

    @strawberry.field
    async def stories(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        genre: Genre | None = None,
    ) -> types.StoryConnection:
        return await account.story_connection(info, first, after, genre)

    @strawberry.field
    async def fine_tune_jobs(self, info: Info) -> list[types.FineTuneJob]:
        return await account.fine_tune_jobs(info)

    @strawberry.field(
        description="The viewer's memory entries most relevant to `text`, best first, by the "
        "database's full-text ranking; `limit` is 1 to 50."
    )
    async def memory_search(
        self, info: Info, text: str, limit: int = 10
    ) -> list[types.MemoryEntry]:
        return await memory.memory_search(info, text, limit)

    @strawberry.field
    def genres(self, info: Info) -> list[types.GenreInfo]:
        return catalog.genres(info)

    @strawberry.field
    def teachers(self, info: Info) -> list[types.Teacher]:
        return catalog.teachers(info)

    @strawberry.field(
        description="Seconds a session would take, from the teachers' observed latencies."
    )
    def estimate_training_time(
        self,
        info: Info,
        num_examples: int,
        teachers: list[str] | None = None,
        voting: VotingStrategy | None = None,
    ) -> float:
        return training.estimate_training_time(info, num_examples, teachers, voting)
