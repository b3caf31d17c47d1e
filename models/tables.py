"""Chorus's tables.

`training_history` keeps every column of the original training-history table under its
original name; `session_model_stats` and `session_genre_counts` hold the same model
performance and genre distribution as rows, so statistics and filters run in SQL.
`user_training_totals` and `user_model_totals` hold each user's sums over those rows, so that
statistics read one row a user (or a user's model) however many sessions there are.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, Quality, Usd, UTCDateTime, utcnow
from models.enums import (
    EndReason,
    ExampleStatus,
    FineTuneStatus,
    Genre,
    SessionStatus,
    VotingStrategy,
)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as its name in a VARCHAR: portable, readable, and new members need no ALTER TYPE.
    return Enum(cls, native_enum=False, length=32, create_constraint=False)


def _user_fk() -> Mapped[int]:
    return mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is kept; the prefix identifies it for revocation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="raise")


class TrainingHistory(Base):
    """One training session, trained here or recorded from an external trainer."""

    __tablename__ = "training_history"
    __table_args__ = (
        Index("idx_user_id", "user_id"),
        Index("idx_session_id", "session_id"),
        Index("idx_started_at", "started_at"),
        Index("idx_user_started", "user_id", "started_at"),
        # Keyset pagination: each sort order seeks on (user, key, id).
        Index("idx_user_started_id", "user_id", "started_at", "id"),
        Index("idx_user_quality_id", "user_id", "average_quality", "id"),
        Index("idx_user_completed_id", "user_id", "completed_at", "id"),
        Index("idx_status", "status"),
        # The workers' scans: RUNNING sessions whose lease has run out.
        Index("idx_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    session_id: Mapped[str] = mapped_column(String(100), unique=True)
    num_examples_requested: Mapped[int] = mapped_column(Integer)
    num_examples_successful: Mapped[int] = mapped_column(Integer, default=0)
    num_examples_failed: Mapped[int] = mapped_column(Integer, default=0)
    genres_selected: Mapped[str | None] = mapped_column(Text)
    stored_in_memory: Mapped[bool] = mapped_column(Boolean, default=False)
    saved_to_database: Mapped[bool] = mapped_column(Boolean, default=False)
    stories_saved_count: Mapped[int] = mapped_column(Integer, default=0)
    average_quality: Mapped[float | None] = mapped_column(Quality)
    min_quality: Mapped[float | None] = mapped_column(Quality)
    max_quality: Mapped[float | None] = mapped_column(Quality)
    best_performing_model: Mapped[str | None] = mapped_column(String(100))
    model_performance_json: Mapped[str | None] = mapped_column(Text)
    genre_distribution_json: Mapped[str | None] = mapped_column(Text)
    total_time_seconds: Mapped[int | None] = mapped_column(Integer)
    training_examples_before: Mapped[int] = mapped_column(Integer, default=0)
    training_examples_after: Mapped[int | None] = mapped_column(Integer)
    fine_tuning_triggered: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    status: Mapped[SessionStatus] = mapped_column(_enum(SessionStatus))
    voting_strategy: Mapped[VotingStrategy] = mapped_column(_enum(VotingStrategy))
    teachers_json: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Examples this session added toward fine-tuning (final quality >= 7.0).
    fine_tuning_examples: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int | None] = mapped_column(BigId)
    error: Mapped[str | None] = mapped_column(Text)
    # The worker that runs the session, and until when it may (models/leases.py): every
    # write for a running session checks that its writer still owns it.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How often a worker took the session over from one whose lease ran out.
    takeovers: Mapped[int] = mapped_column(Integer, server_default="0")
    # Asked by cancelTraining in any API process; the owning worker stops the session.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # What its calls used (trainer/spend.py); NULL when not known: recorded from an external
    # trainer, trained before they were counted, or (cost) a teacher without a price.
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost_usd: Mapped[float | None] = mapped_column(Usd)
    max_cost_usd: Mapped[float | None] = mapped_column(Usd)
    end_reason: Mapped[EndReason | None] = mapped_column(_enum(EndReason))


class SessionModelStats(Base):
    """A model's wins and quality in one session: the rows behind `model_performance_json`."""

    __tablename__ = "session_model_stats"
    __table_args__ = (Index("ix_session_model_stats_model", "model"),)

    history_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_history.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    wins: Mapped[int] = mapped_column(Integer)
    total_quality: Mapped[float] = mapped_column(Float)
    # What the model's calls in the session used, won or not; NULL as on the session.
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost_usd: Mapped[float | None] = mapped_column(Usd)


class UserTrainingTotals(Base):
    """A user's sums over their sessions' `training_history` rows: what `trainingStats` and
    the recorder's count toward fine-tuning read. Kept in step by models/totals.py."""

    __tablename__ = "user_training_totals"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sessions: Mapped[int] = mapped_column(Integer)
    examples_generated: Mapped[int] = mapped_column(Integer)
    stories_saved: Mapped[int] = mapped_column(Integer)
    # Over the sessions with an average quality; a DECIMAL as they are, so the sum is exact
    # on MySQL/MariaDB, as SUM() over them was.
    quality_sum: Mapped[float] = mapped_column(Numeric(14, 1, asdecimal=False))
    scored_sessions: Mapped[int] = mapped_column(Integer)
    training_time_seconds: Mapped[int] = mapped_column(Integer)
    fine_tuning_sessions: Mapped[int] = mapped_column(Integer)
    fine_tuning_examples: Mapped[int] = mapped_column(Integer)
    # Over the sessions whose tokens, or cost, are known.
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Usd, server_default="0")
    costed_sessions: Mapped[int] = mapped_column(Integer, server_default="0")


class UserModelTotals(Base):
    """A model's sums over a user's `session_model_stats` rows: the `modelLeaderboard`."""

    __tablename__ = "user_model_totals"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    wins: Mapped[int] = mapped_column(Integer)
    # DOUBLE, as SUM() over session_model_stats' FLOAT column adds: a FLOAT would round it.
    total_quality: Mapped[float] = mapped_column(Double)
    # Sessions the model took part in, won or not.
    sessions: Mapped[int] = mapped_column(Integer)


class SessionGenreCount(Base):
    """How many of a session's examples were of a genre: the rows behind the distribution."""

    __tablename__ = "session_genre_counts"
    __table_args__ = (Index("ix_session_genre_counts_genre", "genre", "history_id"),)

    history_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_history.id", ondelete="CASCADE"), primary_key=True
    )
    genre: Mapped[Genre] = mapped_column(_enum(Genre), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class TrainingExample(Base):
    __tablename__ = "training_examples"
    __table_args__ = (UniqueConstraint("history_id", "index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    history_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_history.id", ondelete="CASCADE")
    )
    index: Mapped[int] = mapped_column(Integer)
    genre: Mapped[Genre] = mapped_column(_enum(Genre))
    prompt: Mapped[str] = mapped_column(Text)
    style: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ExampleStatus] = mapped_column(_enum(ExampleStatus))
    winner: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    text_quality: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    final_quality: Mapped[float | None] = mapped_column(Float)
    best_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    saved_story_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stories.id", ondelete="SET NULL")
    )
    stored_in_memory: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Summed over its outputs; NULL on examples from before they were counted.
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Usd)


class TeacherOutput(Base):
    __tablename__ = "teacher_outputs"
    __table_args__ = (UniqueConstraint("example_id", "model"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    example_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_examples.id", ondelete="CASCADE")
    )
    model: Mapped[str] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    text_quality: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # Its teacher's judging call for the same example, with a JURY vote.
    judge_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    judge_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    # What both calls cost.
    cost_usd: Mapped[float | None] = mapped_column(Usd)
    # `text` is the first CHORUS_MAX_OUTPUT_CHARS of a longer answer.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("example_id", "voter"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    example_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_examples.id", ondelete="CASCADE")
    )
    voter: Mapped[str] = mapped_column(String(100))
    candidate: Mapped[str] = mapped_column(String(100))


class Story(Base):
    __tablename__ = "stories"
    __table_args__ = (
        Index("ix_stories_user_created", "user_id", "created_at", "id"),
        Index("ix_stories_user_genre_created", "user_id", "genre", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    title: Mapped[str] = mapped_column(String(200))
    genre: Mapped[Genre] = mapped_column(_enum(Genre))
    content: Mapped[str] = mapped_column(Text)
    quality: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(100))
    auto_generated: Mapped[bool] = mapped_column(Boolean, default=True)
    session_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FineTuneJob(Base):
    __tablename__ = "fine_tune_jobs"
    __table_args__ = (Index("ix_fine_tune_jobs_user_created", "user_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    status: Mapped[FineTuneStatus] = mapped_column(_enum(FineTuneStatus))
    backend: Mapped[str] = mapped_column(String(32))
    num_examples: Mapped[int] = mapped_column(Integer)
    triggered_by_session_id: Mapped[str | None] = mapped_column(String(100))
    dataset_path: Mapped[str | None] = mapped_column(String(500))
    # The id of the last example the datasets hold; None on jobs from before it was kept.
    last_example_id: Mapped[int | None] = mapped_column(BigId)
    external_job_id: Mapped[str | None] = mapped_column(String(200))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker that prepares or follows the job, and until when (models/fine_tuning.py).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventStream(Base):
    """Who may append to a session's event log: the worker holding its lease, mirrored from
    `TrainingHistory.lease_owner` wherever that changes hands (models/leases.py). The log's
    writer fences on this row, and its events refer to it, so that it never waits for the
    session's row, which the recorder holds through each of its transactions."""

    __tablename__ = "event_streams"

    history_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("training_history.id", ondelete="CASCADE"), primary_key=True
    )
    writer: Mapped[str | None] = mapped_column(String(64))


class EventRow(Base):
    """A session's event log: what subscribers replay before they switch to live events."""

    __tablename__ = "training_events"
    __table_args__ = (UniqueConstraint("history_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    history_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("event_streams.history_id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemoryEntry(Base):
    __tablename__ = "memory_entries"
    __table_args__ = (Index("ix_memory_entries_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = _user_fk()
    example_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("training_examples.id", ondelete="SET NULL")
    )
    genre: Mapped[Genre] = mapped_column(_enum(Genre))
    text: Mapped[str] = mapped_column(Text)
    quality: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
