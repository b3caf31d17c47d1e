"""Resolvers of what a user owns: the viewer, stories, fine-tune jobs, and `node`."""

from __future__ import annotations

from models import history, stories
from models.enums import Genre
from models.keyset import PageArgs
from models.tables import FineTuneJob, Story, User
from resolvers import convert
from resolvers.context import Info
from schema import types
from schema.node import Node, parse_global_id
from schema.pagination import PageInfo


def viewer(info: Info) -> types.User:
    return convert.user(info.context.viewer)


async def story_connection(
    info: Info, first: int | None, after: str | None, genre: Genre | None
) -> types.StoryConnection:
    context = info.context
    owner = context.viewer.id
    args = PageArgs.parse(first=first, after=after)
    async with context.db() as db:
        page = await stories.story_page(db, owner, genre, args)

    async def counter() -> int:
        async with context.db() as db:
            return await stories.count_stories(db, owner, genre)

    return types.StoryConnection(
        edges=[
            types.StoryEdge(node=convert.story(row), cursor=cursor)
            for row, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),  # type: ignore[arg-type]
        counter=counter,
    )


async def fine_tune_jobs(info: Info) -> list[types.FineTuneJob]:
    async with info.context.db() as db:
        rows = await stories.fine_tune_jobs(db, info.context.viewer.id)
    return [convert.fine_tune_job(row) for row in rows]


async def node(info: Info, id: str) -> Node | None:
    """Any object by its global id; null for unknown ids and for other users' objects."""
    viewer = info.context.viewer
    type_name, key = parse_global_id(id)
    async with info.context.db() as db:
        if type_name == "TrainingSession":
            session = await history.session_by_id(db, key)
            if session and (session.user_id == viewer.id or viewer.is_admin):
                return convert.session(session)
        elif type_name == "User" and key.isdigit():
            user = await db.get(User, int(key))
            if user and (user.id == viewer.id or viewer.is_admin):
                return convert.user(user)
        elif type_name == "Story" and key.isdigit():
            story = await db.get(Story, int(key))
            if story and (story.user_id == viewer.id or viewer.is_admin):
                return convert.story(story)
        elif type_name == "FineTuneJob" and key.isdigit():
            job = await db.get(FineTuneJob, int(key))
            if job and (job.user_id == viewer.id or viewer.is_admin):
                return convert.fine_tune_job(job)
    return None
