"""Resolvers of what a user owns: the viewer, stories, fine-tune jobs, and `node`."""

from __future__ import annotations

from collections.abc import Sequence

from models import history, limits, stories
from models.enums import Genre
from models.errors import BadUserInput
from models.keyset import PageArgs
from models.tables import FineTuneJob, Story, TrainingHistory, User
from resolvers.context import Info
from resolvers.paging import CountedPage

Owned = TrainingHistory | User | Story | FineTuneJob
# The types whose global id holds their row id; a key that is no row id is not an id.
_BY_ROW_ID: dict[str, type[User | Story | FineTuneJob]] = {
    "User": User,
    "Story": Story,
    "FineTuneJob": FineTuneJob,
}


def viewer(info: Info) -> User:
    return info.context.viewer


async def stories_page(
    info: Info, first: int | None, after: str | None, genre: Genre | None
) -> CountedPage[Story]:
    context = info.context
    owner = context.viewer.id
    args = PageArgs.parse(first=first, after=after)
    async with context.db() as db:
        page = await stories.story_page(db, owner, genre, args)

    async def count() -> int:
        async with context.db() as db:
            return await stories.count_stories(db, owner, genre)

    return CountedPage(page, count)


async def fine_tune_jobs(info: Info) -> Sequence[FineTuneJob]:
    async with info.context.db() as db:
        return await stories.fine_tune_jobs(db, info.context.viewer.id)


async def node(info: Info, type_name: str, key: str) -> Owned | None:
    """The object a global id names; None for unknown ids and for other users' objects, and
    BadUserInput for a key that cannot be a row id (`²`, thirty nines)."""
    viewer = info.context.viewer
    found: Owned | None = None
    row_id = limits.parse_id(key)
    if type_name in _BY_ROW_ID and row_id is None:
        raise BadUserInput(f"{type_name}:{key[:40]} is not an id of this API.", field="id")
    async with info.context.db() as db:
        if type_name == "TrainingSession":
            found = await history.session_by_id(db, key)
        elif type_name in _BY_ROW_ID and row_id is not None:
            found = await db.get(_BY_ROW_ID[type_name], row_id)
    if found is None:
        return None
    owner = found.id if isinstance(found, User) else found.user_id
    return found if owner == viewer.id or viewer.is_admin else None
