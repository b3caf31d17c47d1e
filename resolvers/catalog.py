"""Resolvers of the catalog: the genres with their prompts, and the teachers of the ensemble."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.enums import Genre
from models.latencies import recent_latencies_ms
from resolvers.context import Info
from trainer.catalog import GENRE_LABELS, PROMPTS
from trainer.teachers.base import Teacher


@dataclass(frozen=True)
class GenreEntry:
    genre: Genre
    label: str
    prompts: Sequence[str]


@dataclass(frozen=True)
class TeacherStatus:
    teacher: Teacher
    average_latency_ms: float | None  # None until recent sessions have called it


def genres(info: Info) -> list[GenreEntry]:
    return [GenreEntry(genre, GENRE_LABELS[genre], PROMPTS[genre]) for genre in Genre]


async def teachers(info: Info) -> list[TeacherStatus]:
    async with info.context.db() as db:
        latencies_ms = await recent_latencies_ms(db)
    return [
        TeacherStatus(teacher, latencies_ms.get(teacher.name))
        for teacher in info.context.services.teachers
    ]
