"""Resolvers of the catalog: the genres with their prompts, and the teachers of the ensemble."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.enums import Genre
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
    average_latency_ms: float | None  # None until the teacher has been called


def genres(info: Info) -> list[GenreEntry]:
    return [GenreEntry(genre, GENRE_LABELS[genre], PROMPTS[genre]) for genre in Genre]


def teachers(info: Info) -> list[TeacherStatus]:
    services = info.context.services
    return [
        TeacherStatus(teacher, services.latencies.average_ms(teacher.name))
        for teacher in services.teachers
    ]
