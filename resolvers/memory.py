"""Resolvers of the memory store: a relevance search over the viewer's remembered examples."""

from __future__ import annotations

from dataclasses import dataclass

from models import memory
from models.tables import MemoryEntry
from resolvers.context import Info


@dataclass(frozen=True)
class MemoryMatch:
    entry: MemoryEntry
    score: float
    session_id: str | None  # None once the entry's example is deleted


async def memory_search(info: Info, text: str, limit: int) -> list[MemoryMatch]:
    owner = info.context.viewer.id
    async with info.context.db() as db:
        matches = await memory.search_memory(db, owner, text, limit)
        example_ids = {row.example_id for row, _ in matches if row.example_id is not None}
        sessions = await memory.session_ids(db, example_ids)
    return [
        MemoryMatch(row, score, None if row.example_id is None else sessions.get(row.example_id))
        for row, score in matches
    ]
