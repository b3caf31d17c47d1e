"""The contract's enums, exposed from the domain's own (registered with Strawberry here)."""

from __future__ import annotations

import strawberry

from models.enums import (
    EndReason,
    ExampleStatus,
    FineTuneStatus,
    Genre,
    HistoryOrder,
    SessionStatus,
    VotingStrategy,
)

strawberry.enum(Genre, description="The 25 genres of the story catalog. Each has 10 prompts.")
strawberry.enum(SessionStatus)
strawberry.enum(ExampleStatus)
strawberry.enum(
    VotingStrategy, description="How the ensemble picks the winning output of an example."
)
strawberry.enum(FineTuneStatus)
strawberry.enum(HistoryOrder)
strawberry.enum(
    EndReason,
    description="Why a session took no more examples: it ran every one, or the next would "
    "have passed its maxCostUsd.",
)

__all__ = [
    "EndReason",
    "ExampleStatus",
    "FineTuneStatus",
    "Genre",
    "HistoryOrder",
    "SessionStatus",
    "VotingStrategy",
]
