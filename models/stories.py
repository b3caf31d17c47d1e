"""The stories saved to a user's account, and reading the user's fine-tune jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.bulk import insert_returning_ids
from models.enums import Genre
from models.keyset import Ordering, Page, PageArgs, count, paginate
from models.tables import FineTuneJob, Story

STORY_ORDERING = Ordering("Story", "CREATED_AT_DESC", Story.created_at, Story.id, descending=True)


async def add_stories(db: AsyncSession, rows: Sequence[Mapping[str, object]]) -> list[int]:
    """Store stories (column values, one mapping each) in one statement; their ids, in the
    order given."""
    return await insert_returning_ids(db, Story, rows)


def story_query(user_id: int, genre: Genre | None = None) -> Select[Story]:
    query = select(Story).where(Story.user_id == user_id)
    if genre is not None:
        query = query.where(Story.genre == genre)
    return query


async def story_page(
    db: AsyncSession, user_id: int, genre: Genre | None, args: PageArgs
) -> Page[Story]:
    return await paginate(db, story_query(user_id, genre), STORY_ORDERING, args)


async def count_stories(db: AsyncSession, user_id: int, genre: Genre | None) -> int:
    return await count(db, story_query(user_id, genre))


async def fine_tune_jobs(db: AsyncSession, user_id: int) -> Sequence[FineTuneJob]:
    query = (
        select(FineTuneJob)
        .where(FineTuneJob.user_id == user_id)
        .order_by(FineTuneJob.created_at.desc(), FineTuneJob.id.desc())
    )
    return (await db.scalars(query)).all()
