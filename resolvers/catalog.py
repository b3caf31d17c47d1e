"""Resolvers of the catalog: the genres with their prompts, and the teachers of the ensemble."""

from __future__ import annotations

from models.enums import Genre
from resolvers.context import Info
from schema import types
from trainer.catalog import GENRE_LABELS, PROMPTS


def genres(info: Info) -> list[types.GenreInfo]:
    return [
        types.GenreInfo(genre=genre, label=GENRE_LABELS[genre], prompts=list(PROMPTS[genre]))
        for genre in Genre
    ]


def teachers(info: Info) -> list[types.Teacher]:
    return [
        types.Teacher(
            name=teacher.name,
            provider=teacher.config.provider,
            model=teacher.config.model,
            available=teacher.available,
            offline=teacher.offline,
            max_concurrency=teacher.config.max_concurrency,
            average_latency_ms=info.context.services.latencies.average_ms(teacher.name),
        )
        for teacher in info.context.services.teachers
    ]
