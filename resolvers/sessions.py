"""Resolvers of training sessions: history pages, one session, recent, examples."""

from __future__ import annotations

from collections.abc import Sequence

from models import examples, history
from models.enums import HistoryOrder
from models.errors import BadUserInput
from models.history import HistoryFilter, SessionRow
from models.keyset import PageArgs
from resolvers.context import Info
from resolvers.nested import Nested, read_nested, wanted
from resolvers.paging import CountedPage

MAX_RECENT = 100


async def training_history(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    where: HistoryFilter | None,
    order_by: HistoryOrder,
    user_id: int | None,
) -> tuple[CountedPage[SessionRow], Nested]:
    """A page of sessions, with the lists nested in them that the query selects."""
    context = info.context
    owner = context.scope(user_id)
    args = PageArgs.parse(first, after, last, before)
    wants = wanted(info, ("edges", "node"))
    async with context.db() as db:
        page = await history.history_page(
            db, owner, where, order_by, args, wants.columns, model_stats=wants.model_performance
        )
        nested = await read_nested(db, wants, page.items)

    async def count() -> int:
        async with context.db() as db:
            return await history.count_history(db, owner, where)

    return CountedPage(page, count), nested


async def training_session(info: Info, session_id: str) -> tuple[SessionRow, Nested] | None:
    """The session with the lists nested in it that the query selects, or None when it does
    not exist or is another user's (admins see all)."""
    viewer = info.context.viewer
    wants = wanted(info)
    async with info.context.db() as db:
        row = await history.session_row(
            db, session_id, wants.columns, model_stats=wants.model_performance
        )
        if row is None or (row.user_id != viewer.id and not viewer.is_admin):
            return None
        return row, await read_nested(db, wants, [row])


async def recent_training_sessions(
    info: Info, limit: int, user_id: int | None
) -> tuple[Sequence[SessionRow], Nested]:
    owner = info.context.scope(user_id)
    if not 1 <= limit <= MAX_RECENT:
        raise BadUserInput(
            f"`limit` must be between 1 and {MAX_RECENT}; got {limit}.", field="limit"
        )
    wants = wanted(info)
    async with info.context.db() as db:
        rows = await history.recent_session_rows(
            db, owner, limit, wants.columns, model_stats=wants.model_performance
        )
        return rows, await read_nested(db, wants, rows)


async def session_examples(
    info: Info, history_id: int, first: int | None, after: str | None
) -> examples.ExamplePage:
    args = PageArgs.parse(first=first, after=after)
    if after is None:
        return await info.context.loaders.first_examples_of(args.size).load(history_id)
    async with info.context.db() as db:
        return await examples.example_page(db, history_id, args)
