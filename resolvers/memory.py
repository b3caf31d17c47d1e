"""Resolvers of the memory store: a relevance search over the viewer's remembered examples."""

from __future__ import annotations

from models import memory
from models.tables import MemoryEntry
from resolvers.context import Info
from schema import types
from schema.node import global_id


def _entry(row: MemoryEntry, score: float, session_id: str | None) -> types.MemoryEntry:
    return types.MemoryEntry(
        id=global_id("MemoryEntry", row.id),
        genre=row.genre,
        text=row.text,
        quality=row.quality,
        created_at=row.created_at,
        session_id=session_id,
        score=score,
    )


async def memory_search(info: Info, text: str, limit: int) -> list[types.MemoryEntry]:
    owner = info.context.viewer.id
    async with info.context.db() as db:
        matches = await memory.search_memory(db, owner, text, limit)
        example_ids = {row.example_id for row, _ in matches if row.example_id is not None}
        sessions = await memory.session_ids(db, example_ids)
    return [
        _entry(row, score, None if row.example_id is None else sessions.get(row.example_id))
        for row, score in matches
    ]
