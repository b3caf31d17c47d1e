"""Resolvers of training sessions: history pages, one session, recent, examples."""

from __future__ import annotations

from models import examples, history
from models.base import as_utc
from models.enums import HistoryOrder
from models.errors import BadUserInput
from models.keyset import Page, PageArgs
from models.tables import TrainingHistory
from resolvers import convert
from resolvers.context import Info
from schema import inputs, types
from schema.pagination import PageInfo

MAX_RECENT = 100


def history_filter(where: inputs.TrainingHistoryFilter | None) -> history.HistoryFilter | None:
    if where is None:
        return None
    return history.HistoryFilter(
        started_after=as_utc(where.started_after) if where.started_after else None,
        started_before=as_utc(where.started_before) if where.started_before else None,
        genre=where.genre,
        min_average_quality=where.min_average_quality,
        status=where.status,
        fine_tuning_triggered=where.fine_tuning_triggered,
    )


def session_connection(
    page: Page[TrainingHistory], counter: types.Counter
) -> types.TrainingSessionConnection:
    return types.TrainingSessionConnection(
        edges=[
            types.TrainingSessionEdge(node=convert.session(row), cursor=cursor)
            for row, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),  # type: ignore[arg-type]
        counter=counter,
    )


async def training_history(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    where: inputs.TrainingHistoryFilter | None,
    order_by: HistoryOrder,
    user_id: int | None,
) -> types.TrainingSessionConnection:
    context = info.context
    owner = context.scope(user_id)
    args = PageArgs.parse(first, after, last, before)
    parsed = history_filter(where)
    async with context.db() as db:
        page = await history.history_page(db, owner, parsed, order_by, args)

    async def counter() -> int:
        async with context.db() as db:
            return await history.count_history(db, owner, parsed)

    return session_connection(page, counter)


async def training_session(info: Info, session_id: str) -> types.TrainingSession | None:
    """The session, or null when it does not exist or is another user's (admins see all)."""
    viewer = info.context.viewer
    async with info.context.db() as db:
        row = await history.session_by_id(db, session_id)
    if row is None or (row.user_id != viewer.id and not viewer.is_admin):
        return None
    return convert.session(row)


async def recent_training_sessions(
    info: Info, limit: int, user_id: int | None
) -> list[types.TrainingSession]:
    owner = info.context.scope(user_id)
    if not 1 <= limit <= MAX_RECENT:
        raise BadUserInput(
            f"`limit` must be between 1 and {MAX_RECENT}; got {limit}.", field="limit"
        )
    async with info.context.db() as db:
        rows = await history.recent_sessions(db, owner, limit)
    return [convert.session(row) for row in rows]


def example_connection(page: examples.ExamplePage) -> types.TrainingExampleConnection:
    return types.TrainingExampleConnection(
        edges=[
            types.TrainingExampleEdge(node=convert.example(row), cursor=cursor)
            for row, cursor in zip(page.page.items, page.page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page.page),  # type: ignore[arg-type]
        total_count=page.total_count,
    )


async def session_examples(
    info: Info, history_id: int, first: int | None, after: str | None
) -> types.TrainingExampleConnection:
    args = PageArgs.parse(first=first, after=after)
    if after is None:
        page = await info.context.loaders.first_examples_of(args.size).load(history_id)
    else:
        async with info.context.db() as db:
            page = await examples.example_page(db, history_id, args)
    return example_connection(page)
