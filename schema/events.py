"""The events of a session's live stream, each with its `seq` within the session."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from datetime import datetime
from typing import Any

import strawberry

from resolvers.context import Info
from schema.enums import Genre, SessionStatus, VotingStrategy
from schema.types import FineTuneJob, TrainingSession


@strawberry.interface(
    description="Every event carries a sequence number, 1, 2, 3 ... without gaps within its "
    "session."
)
class TrainingEvent:
    seq: int
    session_id: str
    at: datetime
    # This event's results, executed once per operation and variables and then sent to every
    # subscriber that asked the same (schema.execution).
    rendered: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )


@strawberry.type
class SessionStarted(TrainingEvent):
    num_examples: int
    teachers: list[str]
    voting_strategy: VotingStrategy


@strawberry.type
class ExampleStarted(TrainingEvent):
    index: int
    genre: Genre
    prompt: str
    style: str | None


@strawberry.type(
    description="One per teacher per example: the story it wrote, or why it failed. Judging "
    "shows as VoteCast."
)
class TeacherResponded(TrainingEvent):
    index: int
    model: str
    ok: bool
    latency_ms: int
    text_quality: float | None
    error: str | None


@strawberry.type
class VoteCast(TrainingEvent):
    index: int
    voter: str
    candidate: str


@strawberry.type
class ExampleScored(TrainingEvent):
    index: int
    winner: str
    text_quality: float
    confidence: float
    final_quality: float
    saved_to_database: bool
    stored_in_memory: bool
    text: str = strawberry.field(description="The winning story.")


@strawberry.type
class ExampleFailed(TrainingEvent):
    index: int
    error: str


@strawberry.type
class SessionProgress(TrainingEvent):
    completed: int
    failed: int
    total: int
    eta_seconds: float | None


@strawberry.type
class FineTuningTriggered(TrainingEvent):
    examples_collected: int
    job_id: strawberry.Private[int]

    @strawberry.field
    async def job(self, info: Info) -> FineTuneJob:
        from resolvers.progress import fine_tune_job

        return await fine_tune_job(info, self.job_id)


@strawberry.type(
    description="The last event of a session's stream; the subscription completes after it."
)
class SessionFinished(TrainingEvent):
    status: SessionStatus

    @strawberry.field
    async def session(self, info: Info) -> TrainingSession:
        from resolvers.progress import finished_session

        return await finished_session(info, self.session_id)


EVENT_TYPES: tuple[type[TrainingEvent], ...] = (
    SessionStarted,
    ExampleStarted,
    TeacherResponded,
    VoteCast,
    ExampleScored,
    ExampleFailed,
    SessionProgress,
    FineTuningTriggered,
    SessionFinished,
)
