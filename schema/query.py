"""The root Query type: every field is a thin call into `resolvers`, its answer converted
to the API's types."""

from __future__ import annotations

import strawberry

from resolvers import account, catalog, memory, sessions, stats, training
from resolvers.context import Info
from schema import convert, types
from schema.enums import Genre, HistoryOrder, VotingStrategy
from schema.inputs import TrainingHistoryFilter
from schema.node import Node, parse_global_id


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, key = parse_global_id(id)
        found = await account.node(info, type_name, key)
        return None if found is None else convert.node(found)

    @strawberry.field
    def viewer(self, info: Info) -> types.User:
        return convert.user(account.viewer(info))

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
        counted, nested = await sessions.training_history(
            info,
            first,
            after,
            last,
            before,
            convert.history_filter(filter),
            order_by or HistoryOrder.STARTED_AT_DESC,
            user_id,
        )
        return convert.session_connection(counted, nested)

    @strawberry.field(
        description="Null when the session does not exist or belongs to another user."
    )
    async def training_session(self, info: Info, session_id: str) -> types.TrainingSession | None:
        found = await sessions.training_session(info, session_id)
        return None if found is None else convert.session(*found)

    @strawberry.field
    async def training_stats(self, info: Info, user_id: int | None = None) -> types.TrainingStats:
        return convert.training_stats(await stats.training_stats(info, user_id))

    @strawberry.field(description="The last finished sessions, newest by completion time.")
    async def recent_training_sessions(
        self, info: Info, limit: int = 5, user_id: int | None = None
    ) -> list[types.TrainingSession]:
        rows, nested = await sessions.recent_training_sessions(info, limit, user_id)
        return [convert.session(row, nested) for row in rows]

    @strawberry.field
    async def model_leaderboard(
        self, info: Info, user_id: int | None = None
    ) -> list[types.ModelLeaderboardEntry]:
        entries = await stats.model_leaderboard(info, user_id)
        return [convert.leaderboard_entry(entry) for entry in entries]

    @strawberry.field(description="One point per UTC day of the last `days` days, oldest first.")
    async def quality_trend(
        self, info: Info, days: int = 30, user_id: int | None = None
    ) -> list[types.QualityPoint]:
        points = await stats.quality_trend(info, days, user_id)
        return [convert.quality_point(point) for point in points]

    @strawberry.field
    async def stories(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        genre: Genre | None = None,
    ) -> types.StoryConnection:
        return convert.story_connection(await account.stories_page(info, first, after, genre))

    @strawberry.field
    async def fine_tune_jobs(self, info: Info) -> list[types.FineTuneJob]:
        return [convert.fine_tune_job(row) for row in await account.fine_tune_jobs(info)]

    @strawberry.field(
        description="The viewer's memory entries most relevant to `text`, best first, by the "
        "database's full-text ranking; `limit` is 1 to 50."
    )
    async def memory_search(
        self, info: Info, text: str, limit: int = 10
    ) -> list[types.MemoryEntry]:
        matches = await memory.memory_search(info, text, limit)
        return [convert.memory_entry(match) for match in matches]

    @strawberry.field
    def genres(self, info: Info) -> list[types.GenreInfo]:
        return [convert.genre_info(entry) for entry in catalog.genres(info)]

    @strawberry.field(
        description=(
            "The ensemble: every configured teacher, available or not. Offline teachers "
            "(`offline: true`) write without a language model; their stories and scores are for "
            "demonstration only."
        )
    )
    async def teachers(self, info: Info) -> list[types.Teacher]:
        return [convert.teacher(status) for status in await catalog.teachers(info)]

    @strawberry.field(
        description="Seconds a session would take, from the teachers' latencies in recent "
        "sessions and their rate limits."
    )
    async def estimate_training_time(
        self,
        info: Info,
        num_examples: int,
        teachers: list[str] | None = None,
        voting: VotingStrategy | None = None,
    ) -> float:
        return (await training.training_estimate(info, num_examples, teachers, voting)).seconds

    @strawberry.field(description="What a session would take: its time, tokens and cost.")
    async def training_estimate(
        self,
        info: Info,
        num_examples: int,
        teachers: list[str] | None = None,
        voting: VotingStrategy | None = None,
    ) -> types.TrainingEstimate:
        estimate = await training.training_estimate(info, num_examples, teachers, voting)
        return convert.training_estimate(estimate, num_examples)
