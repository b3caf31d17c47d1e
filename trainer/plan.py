"""A training request, checked before anything is written."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from models import limits
from models.enums import Genre, VotingStrategy
from models.errors import BadUserInput
from trainer.budget import example_cost_at_most
from trainer.teachers.base import Teacher

MAX_EXAMPLES = 1000


@dataclass(frozen=True)
class SessionPlan:
    """What to train: validated, with the teachers resolved and a seed always set, so every
    session can be replayed and resumed with the same samples."""

    num_examples: int
    genres: tuple[Genre, ...]
    teachers: tuple[str, ...]
    voting: VotingStrategy
    seed: int
    store_in_memory: bool = False
    save_to_database: bool = False
    # The session takes no example that would bring its projected cost past this.
    max_cost_usd: float | None = None


def make_plan(
    ensemble: Sequence[Teacher],
    *,
    num_examples: int,
    genres: Sequence[Genre] = (),
    teachers: Sequence[str] | None = None,
    voting: VotingStrategy | None = None,
    seed: int | None = None,
    store_in_memory: bool = False,
    save_to_database: bool = False,
    max_cost_usd: float | None = None,
) -> SessionPlan:
    if not 1 <= num_examples <= MAX_EXAMPLES:
        raise BadUserInput(
            f"The number of examples must be between 1 and {MAX_EXAMPLES}; got {num_examples}.",
            field="numExamples",
        )
    by_name = {teacher.name: teacher for teacher in ensemble}
    if teachers is None:
        chosen = [teacher.name for teacher in ensemble if teacher.available]
        if not chosen:
            raise BadUserInput(
                "No teacher of the ensemble is available; set a provider key or use the "
                "offline teachers.",
                field="teachers",
            )
    else:
        unknown = [name for name in teachers if name not in by_name]
        if unknown:
            raise BadUserInput(
                f"Unknown teacher(s) {', '.join(map(repr, unknown))}; the ensemble is "
                f"{', '.join(by_name) or 'empty'}.",
                field="teachers",
            )
        unavailable = [name for name in teachers if not by_name[name].available]
        if unavailable:
            raise BadUserInput(
                f"Teacher(s) {', '.join(map(repr, unavailable))} are not available: their "
                "key or host is not set.",
                field="teachers",
            )
        chosen = list(dict.fromkeys(teachers))
        if not chosen:
            raise BadUserInput(
                "Name at least one teacher, or leave `teachers` out.", field="teachers"
            )
    if seed is not None:
        # Read back as a GraphQL Int.
        limits.whole(seed, "seed")
    voting = voting or VotingStrategy.JURY
    if max_cost_usd is not None:
        example_cost_at_most([by_name[name] for name in chosen], voting, max_cost_usd)
    return SessionPlan(
        num_examples=num_examples,
        genres=tuple(dict.fromkeys(genres)),
        teachers=tuple(chosen),
        voting=voting,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        store_in_memory=store_in_memory,
        save_to_database=save_to_database,
        max_cost_usd=max_cost_usd,
    )
