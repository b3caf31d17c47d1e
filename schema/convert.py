"""The database's rows and the domain's records as the API's types, and the API's filter
input as the domain's.

Sessions and examples are given a `_Lists`, which answers their nested lists when a query
selects them: at once from what was read with their page (resolvers.nested), else through
the request's DataLoaders, batched for a whole page; converted here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from graphql.pyutils import AwaitableOrValue
from sqlalchemy import Row
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from models import tables
from models.base import Record, as_utc
from models.enums import Genre
from models.examples import EXAMPLE_COLUMNS, ExamplePage
from models.history import (
    FINE_TUNING_THRESHOLD,
    SESSION_COLUMNS,
    HistoryFilter,
    LeaderboardEntry,
    ModelStats,
    QualityPoint,
    SessionRow,
    TrainingStats,
    mean_quality,
)
from models.keyset import PageArgs
from resolvers import sessions
from resolvers.account import Owned
from resolvers.catalog import GenreEntry, TeacherStatus
from resolvers.context import Info
from resolvers.memory import MemoryMatch
from resolvers.nested import NOTHING, Nested
from resolvers.paging import CountedPage
from schema import inputs, types
from schema.node import Node, global_id
from schema.pagination import PageInfo
from trainer.estimate import Estimate


def user(row: tables.User) -> types.User:
    return types.User(
        id=global_id("User", row.id), user_id=row.id, name=row.name, is_admin=row.is_admin
    )


def _genres(raw: str | None) -> list[Genre]:
    names = json.loads(raw) if raw else []
    return [Genre[name] for name in names if name in Genre.__members__]


# Every column of a session and of an example, unread: what a field the query does not
# select is given (it is never shown).
_UNREAD_SESSION = dict.fromkeys(SESSION_COLUMNS)
_UNREAD_EXAMPLE = dict.fromkeys(EXAMPLE_COLUMNS)


def _filled(row: Record, unread: dict[str, None]) -> Any:
    """`row`'s columns by name, and None for every other column of its table."""
    return SimpleNamespace(**{**unread, **row._asdict()})


def session(
    row: tables.TrainingHistory | SessionRow, nested: Nested = NOTHING
) -> types.TrainingSession:
    """A session from its object, or from a row of the columns a query shows."""
    if isinstance(row, Row):
        row = _filled(row, _UNREAD_SESSION)
    return types.TrainingSession(
        id=global_id("TrainingSession", row.session_id),
        db_id=row.id,
        lists=_Lists.of(nested),
        session_id=row.session_id,
        user_id=row.user_id,
        status=row.status,
        num_examples_requested=row.num_examples_requested,
        num_examples_successful=row.num_examples_successful,
        num_examples_failed=row.num_examples_failed,
        genres_selected=_genres(row.genres_selected),
        stored_in_memory=row.stored_in_memory,
        saved_to_database=row.saved_to_database,
        stories_saved_count=row.stories_saved_count,
        average_quality=row.average_quality,
        min_quality=row.min_quality,
        max_quality=row.max_quality,
        best_performing_model=row.best_performing_model,
        voting_strategy=row.voting_strategy,
        teachers=json.loads(row.teachers_json or "[]"),
        total_time_seconds=row.total_time_seconds,
        training_examples_before=row.training_examples_before,
        training_examples_after=row.training_examples_after,
        fine_tuning_triggered=row.fine_tuning_triggered,
        fine_tuning_examples=row.fine_tuning_examples,
        started_at=row.started_at,
        completed_at=row.completed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        seed=row.seed,
        error=row.error,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        max_cost_usd=row.max_cost_usd,
        end_reason=row.end_reason,
    )


def session_connection(
    counted: CountedPage[SessionRow], nested: Nested = NOTHING
) -> types.TrainingSessionConnection:
    page = counted.page
    return types.TrainingSessionConnection(
        edges=[
            types.TrainingSessionEdge(node=session(row, nested), cursor=cursor)
            for row, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),  # type: ignore[arg-type]
        counter=counted.count,
    )


def model_performance(row: ModelStats) -> types.ModelPerformance:
    return types.ModelPerformance(
        model=row.model,
        wins=row.wins,
        average_quality=mean_quality(row.total_quality, row.wins),
        total_quality=round(row.total_quality, 2),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
    )


def genre_count(row: Record) -> types.GenreCount:
    # `count`, like `index`, names a tuple's method on a row: read by name instead.
    return types.GenreCount(genre=row.genre, count=row._mapping["count"])


def example(record: Record, lists: _Lists) -> types.TrainingExample:
    """An example from a row of the columns a query shows (or of all of them)."""
    row = _filled(record, _UNREAD_EXAMPLE)
    return types.TrainingExample(
        db_id=row.id,
        lists=lists,
        index=row.index,
        genre=row.genre,
        prompt=row.prompt,
        style=row.style,
        status=row.status,
        winner=row.winner,
        text=row.text,
        text_quality=row.text_quality,
        confidence=row.confidence,
        final_quality=row.final_quality,
        saved_story_id=(
            global_id("Story", row.saved_story_id) if row.saved_story_id is not None else None
        ),
        stored_in_memory=row.stored_in_memory,
        error=row.error,
        best_parameters=cast(JSON, row.best_parameters),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
    )


def example_connection(
    examples: ExamplePage, lists: _Lists | None = None
) -> types.TrainingExampleConnection:
    page = examples.page
    lists = lists or _Lists.of(NOTHING)
    return types.TrainingExampleConnection(
        edges=[
            types.TrainingExampleEdge(node=example(row, lists), cursor=cursor)
            for row, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),  # type: ignore[arg-type]
        total_count=examples.total_count,
    )


_OUTPUT_FIELDS = (
    "model",
    "text",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "text_quality",
    "error",
    "judge_prompt_tokens",
    "judge_completion_tokens",
    "cost_usd",
    "truncated",
)


def output(values: Mapping[str, Any]) -> types.TeacherOutput:
    """An output from the values of the columns a query shows (the others stand at None;
    read as JSON, a flag is a number)."""
    fields: dict[str, Any] = {name: values.get(name) for name in _OUTPUT_FIELDS}
    if fields["truncated"] is not None:
        fields["truncated"] = bool(fields["truncated"])
    return types.TeacherOutput(**fields)


def vote(values: Mapping[str, Any]) -> types.Vote:
    return types.Vote(voter=values["voter"], candidate=values["candidate"])


Row_ = TypeVar("Row_")
Item = TypeVar("Item")


def _listed(
    read: dict[int, list[Row_]] | None,
    key: int,
    convert: Callable[[Row_], Item],
    loader: DataLoader[int, list[Row_]],
) -> AwaitableOrValue[list[Item]]:
    """The list nested in the object `key`, converted: at once when it was `read` with the
    page, else an awaitable of it from the request's DataLoader."""
    if read is not None:
        return [convert(row) for row in read.get(key, ())]
    return _converted(loader.load(key), convert)


async def _converted(rows: Awaitable[list[Row_]], convert: Callable[[Row_], Item]) -> list[Item]:
    return [convert(row) for row in await rows]


class _Lists:
    """Answers the lists nested in sessions and examples (types.SessionLists, ExampleLists):
    a list read with the page is answered as a value, any other is read when resolved."""

    __slots__ = ("nested",)

    def __init__(self, nested: Nested) -> None:
        self.nested = nested

    @classmethod
    def of(cls, nested: Nested) -> _Lists:
        return _LOADED if nested is NOTHING else cls(nested)

    def model_performance(
        self, info: Info, history_id: int
    ) -> AwaitableOrValue[list[types.ModelPerformance]]:
        loader = info.context.loaders.model_performance
        return _listed(self.nested.model_performance, history_id, model_performance, loader)

    def genre_distribution(
        self, info: Info, history_id: int
    ) -> AwaitableOrValue[list[types.GenreCount]]:
        loader = info.context.loaders.genre_distribution
        return _listed(self.nested.genre_distribution, history_id, genre_count, loader)

    def votes(self, info: Info, example_id: int) -> AwaitableOrValue[list[types.Vote]]:
        return _listed(self.nested.votes, example_id, vote, info.context.loaders.votes)

    def outputs(self, info: Info, example_id: int) -> AwaitableOrValue[list[types.TeacherOutput]]:
        return _listed(self.nested.outputs, example_id, output, info.context.loaders.outputs)

    def examples(
        self, info: Info, history_id: int, first: int | None, after: str | None
    ) -> AwaitableOrValue[types.TrainingExampleConnection]:
        nested = self.nested
        page = nested.examples.get(history_id)
        if (
            page is not None
            and after is None
            and PageArgs.parse(first=first).size == nested.examples_size
        ):
            return example_connection(page, self)
        return self._examples(info, history_id, first, after)

    async def _examples(
        self, info: Info, history_id: int, first: int | None, after: str | None
    ) -> types.TrainingExampleConnection:
        return example_connection(await sessions.session_examples(info, history_id, first, after))


_LOADED = _Lists(NOTHING)


def story(row: tables.Story) -> types.Story:
    return types.Story(
        id=global_id("Story", row.id),
        title=row.title,
        genre=row.genre,
        content=row.content,
        quality=row.quality,
        model=row.model,
        auto_generated=row.auto_generated,
        session_id=row.session_id,
        created_at=row.created_at,
    )


def story_connection(counted: CountedPage[tables.Story]) -> types.StoryConnection:
    page = counted.page
    return types.StoryConnection(
        edges=[
            types.StoryEdge(node=story(row), cursor=cursor)
            for row, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),  # type: ignore[arg-type]
        counter=counted.count,
    )


def dataset_url(job_id: int, kind: str) -> str:
    return f"/api/fine-tune-jobs/{job_id}/{kind}.jsonl"


def fine_tune_job(row: tables.FineTuneJob) -> types.FineTuneJob:
    has_dataset = row.dataset_path is not None
    return types.FineTuneJob(
        id=global_id("FineTuneJob", row.id),
        job_id=row.id,
        status=row.status,
        backend=row.backend,
        num_examples=row.num_examples,
        triggered_by_session_id=row.triggered_by_session_id,
        dataset_url=dataset_url(row.id, "dataset") if has_dataset else None,
        preference_dataset_url=dataset_url(row.id, "preferences") if has_dataset else None,
        external_job_id=row.external_job_id,
        fine_tuned_model=row.fine_tuned_model,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def node(row: Owned) -> Node:
    if isinstance(row, tables.TrainingHistory):
        return session(row)
    if isinstance(row, tables.User):
        return user(row)
    if isinstance(row, tables.Story):
        return story(row)
    return fine_tune_job(row)


def training_stats(stats: TrainingStats) -> types.TrainingStats:
    return types.TrainingStats(
        total_sessions=stats.total_sessions,
        total_examples_generated=stats.total_examples_generated,
        total_stories_saved=stats.total_stories_saved,
        average_quality=stats.average_quality,
        total_training_time_seconds=stats.total_training_time_seconds,
        fine_tuning_sessions_count=stats.fine_tuning_sessions_count,
        fine_tuning_examples=stats.fine_tuning_examples,
        until_next_fine_tuning=stats.until_next_fine_tuning,
        fine_tuning_threshold=FINE_TUNING_THRESHOLD,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        cost_usd=stats.cost_usd,
        sessions_with_known_cost=stats.sessions_with_known_cost,
    )


def leaderboard_entry(entry: LeaderboardEntry) -> types.ModelLeaderboardEntry:
    return types.ModelLeaderboardEntry(
        model=entry.model,
        wins=entry.wins,
        average_quality=entry.average_quality,
        sessions=entry.sessions,
    )


def quality_point(point: QualityPoint) -> types.QualityPoint:
    return types.QualityPoint(
        day=point.day,
        sessions=point.sessions,
        average_quality=point.average_quality,
        prompt_tokens=point.prompt_tokens,
        completion_tokens=point.completion_tokens,
        cost_usd=point.cost_usd,
    )


def training_estimate(estimate: Estimate, num_examples: int) -> types.TrainingEstimate:
    return types.TrainingEstimate(
        seconds=estimate.seconds,
        prompt_tokens=estimate.prompt_tokens,
        completion_tokens=estimate.completion_tokens,
        cost_usd=estimate.cost_usd,
        cost_per_example_usd=(
            None if estimate.cost_usd is None else round(estimate.cost_usd / num_examples, 9)
        ),
    )


def genre_info(entry: GenreEntry) -> types.GenreInfo:
    return types.GenreInfo(genre=entry.genre, label=entry.label, prompts=list(entry.prompts))


def teacher(status: TeacherStatus) -> types.Teacher:
    teacher = status.teacher
    return types.Teacher(
        name=teacher.name,
        provider=teacher.config.provider,
        model=teacher.config.model,
        available=teacher.available,
        offline=teacher.offline,
        max_concurrency=teacher.config.max_concurrency,
        average_latency_ms=status.average_latency_ms,
        input_price_per_mtok=teacher.config.input_price_per_mtok,
        output_price_per_mtok=teacher.config.output_price_per_mtok,
        requests_per_minute=teacher.config.requests_per_minute,
        tokens_per_minute=teacher.config.tokens_per_minute,
    )


def memory_entry(match: MemoryMatch) -> types.MemoryEntry:
    row = match.entry
    return types.MemoryEntry(
        id=global_id("MemoryEntry", row.id),
        genre=row.genre,
        text=row.text,
        quality=row.quality,
        created_at=row.created_at,
        session_id=match.session_id,
        score=match.score,
    )


def history_filter(where: inputs.TrainingHistoryFilter | None) -> HistoryFilter | None:
    if where is None:
        return None
    return HistoryFilter(
        started_after=as_utc(where.started_after) if where.started_after else None,
        started_before=as_utc(where.started_before) if where.started_before else None,
        genre=where.genre,
        min_average_quality=where.min_average_quality,
        status=where.status,
        fine_tuning_triggered=where.fine_tuning_triggered,
    )
