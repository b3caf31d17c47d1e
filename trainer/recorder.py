"""Writing a session as it happens: each finished example, with its outputs, votes, story,
memory entry and the session's aggregates, in one transaction, so a crash loses at most the
examples in flight and the summary always agrees with the examples stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import Base, table_of, utcnow
from models.engine import on_sqlite
from models.enums import ExampleStatus, FineTuneStatus, Genre, SessionStatus
from models.examples import count_collected
from models.history import (
    FINE_TUNING_MIN_QUALITY,
    FINE_TUNING_THRESHOLD,
    fine_tuning_examples_collected,
)
from models.tables import (
    FineTuneJob,
    MemoryEntry,
    SessionGenreCount,
    Story,
    TeacherOutput,
    TrainingExample,
    TrainingHistory,
    User,
    Vote,
)
from models.totals import ModelScore, add_session, locked_session, update_scores, update_session
from trainer.catalog import GENRE_LABELS
from trainer.example import ExampleOutcome
from trainer.plan import SessionPlan
from trainer.tally import STORY_MIN_QUALITY, SessionTally, one_decimal


async def create_session(
    db: AsyncSession,
    user_id: int,
    plan: SessionPlan,
    *,
    status: SessionStatus = SessionStatus.QUEUED,
    session_id: str | None = None,
) -> TrainingHistory:
    """The session's record, before its first example; committed by the caller."""
    now = utcnow()
    history = TrainingHistory(
        user_id=user_id,
        session_id=session_id or uuid.uuid4().hex,
        num_examples_requested=plan.num_examples,
        num_examples_successful=0,
        num_examples_failed=0,
        genres_selected=json.dumps([genre.name for genre in plan.genres]),
        stored_in_memory=plan.store_in_memory,
        saved_to_database=plan.save_to_database,
        stories_saved_count=0,
        model_performance_json="{}",
        genre_distribution_json="{}",
        training_examples_before=await fine_tuning_examples_collected(db, user_id),
        fine_tuning_triggered=False,
        started_at=now,
        created_at=now,
        status=status,
        voting_strategy=plan.voting,
        teachers_json=json.dumps(list(plan.teachers)),
        fine_tuning_examples=0,
        seed=plan.seed,
    )
    db.add(history)
    await db.flush()
    # Every teacher of the session has its row from the start, so leaderboards count the
    # sessions a model took part in, not only those it won.
    await add_session(db, history, {name: ModelScore(0, 0.0) for name in plan.teachers})
    return history


def plan_of(history: TrainingHistory) -> SessionPlan:
    return SessionPlan(
        num_examples=history.num_examples_requested,
        genres=tuple(Genre[name] for name in json.loads(history.genres_selected or "[]")),
        teachers=tuple(json.loads(history.teachers_json)),
        voting=history.voting_strategy,
        seed=history.seed if history.seed is not None else 0,
        store_in_memory=history.stored_in_memory,
        save_to_database=history.saved_to_database,
    )


@dataclass(frozen=True)
class RecordedExample:
    """How one example was kept: what its events report."""

    outcome: ExampleOutcome
    example_id: int
    story_id: int | None
    stored_in_memory: bool
    fine_tune_job_id: int | None
    examples_collected: int


@dataclass(frozen=True)
class RecordedBatch:
    examples: list[RecordedExample]
    tally: SessionTally


def _title(outcome: ExampleOutcome) -> str:
    prompt = outcome.sample.prompt.rstrip(".")
    if len(prompt) > 120:
        prompt = prompt[:117].rsplit(" ", 1)[0] + "..."
    return f"{GENRE_LABELS[outcome.sample.genre]}: {prompt}"


@dataclass(frozen=True)
class _Decision:
    """What keeping one example means, decided before anything is written."""

    outcome: ExampleOutcome
    succeeded: bool
    collects: bool
    saves_story: bool
    remembers: bool


def _decide(plan: SessionPlan, outcome: ExampleOutcome) -> _Decision:
    quality = outcome.final_quality
    succeeded = outcome.succeeded and quality is not None and outcome.text is not None
    collects = succeeded and quality is not None and quality >= FINE_TUNING_MIN_QUALITY
    return _Decision(
        outcome=outcome,
        succeeded=succeeded,
        collects=collects,
        saves_story=succeeded
        and plan.save_to_database
        and quality is not None
        and quality >= STORY_MIN_QUALITY,
        remembers=collects and plan.store_in_memory,
    )


async def record_examples(
    db: AsyncSession,
    history: TrainingHistory,
    plan: SessionPlan,
    tally: SessionTally,
    outcomes: Sequence[ExampleOutcome],
    *,
    fine_tune_backend: str,
    now: datetime | None = None,
) -> RecordedBatch:
    """Store finished examples and bring the session's summary up to date, in one
    transaction: a statement per table for the whole batch, however many examples."""
    now = now or utcnow()
    if not on_sqlite(db):
        # Serialises a user's concurrent sessions, so that two of them cannot both trigger
        # the same fine-tuning run; SQLite serialises writers by itself.
        await db.execute(select(User.id).where(User.id == history.user_id).with_for_update())
    # Locked before the examples' inserts refer to it, so that it is locked once, in the
    # order models/totals.py keeps, not shared first and upgraded later.
    stored = await locked_session(db, history.id)
    decisions = [_decide(plan, outcome) for outcome in outcomes]

    story_ids = await _insert_returning_ids(
        db,
        Story,
        [
            {
                "user_id": history.user_id,
                "title": _title(d.outcome),
                "genre": d.outcome.sample.genre,
                "content": d.outcome.text,
                "quality": round(d.outcome.final_quality or 0.0, 2),
                "model": d.outcome.winner,
                "auto_generated": True,
                "session_id": history.session_id,
                "created_at": now,
            }
            for d in decisions
            if d.saves_story
        ],
    )
    story_of: dict[int, int] = {}
    for decision, story_id in zip((d for d in decisions if d.saves_story), story_ids, strict=True):
        story_of[decision.outcome.index] = story_id

    example_ids = await _insert_returning_ids(
        db,
        TrainingExample,
        [
            {
                "history_id": history.id,
                "index": d.outcome.index,
                "genre": d.outcome.sample.genre,
                "prompt": d.outcome.sample.prompt,
                "style": d.outcome.sample.style,
                "status": ExampleStatus.SUCCEEDED if d.succeeded else ExampleStatus.FAILED,
                "winner": d.outcome.winner,
                "text": d.outcome.text,
                "text_quality": d.outcome.text_quality,
                "confidence": d.outcome.confidence,
                "final_quality": d.outcome.final_quality,
                "best_parameters": d.outcome.best_parameters,
                "saved_story_id": story_of.get(d.outcome.index),
                "stored_in_memory": d.remembers,
                "error": d.outcome.error,
                "created_at": now,
            }
            for d in decisions
        ],
    )
    await _insert_many(
        db,
        TeacherOutput,
        [
            {
                "example_id": example_id,
                "model": output.teacher,
                "text": output.text,
                "latency_ms": output.latency_ms,
                "prompt_tokens": output.prompt_tokens,
                "completion_tokens": output.completion_tokens,
                "text_quality": output.text_quality,
                "error": output.error,
            }
            for d, example_id in zip(decisions, example_ids, strict=True)
            for output in d.outcome.outputs
        ],
    )
    await _insert_many(
        db,
        Vote,
        [
            {"example_id": example_id, "voter": v.voter, "candidate": v.candidate}
            for d, example_id in zip(decisions, example_ids, strict=True)
            if d.outcome.result is not None
            for v in d.outcome.result.votes
        ],
    )
    await _insert_many(
        db,
        MemoryEntry,
        [
            {
                "user_id": history.user_id,
                "example_id": example_id,
                "genre": d.outcome.sample.genre,
                "text": d.outcome.text,
                "quality": round(d.outcome.final_quality or 0.0, 2),
                "created_at": now,
            }
            for d, example_id in zip(decisions, example_ids, strict=True)
            if d.remembers
        ],
    )

    collected = await fine_tuning_examples_collected(db, history.user_id)
    recorded, new_tally, triggered = [], tally, False
    dataset_size: int | None = None
    for decision, example_id in zip(decisions, example_ids, strict=True):
        outcome = decision.outcome
        before, collected = collected, collected + int(decision.collects)
        job_id = None
        if collected // FINE_TUNING_THRESHOLD > before // FINE_TUNING_THRESHOLD:
            # The job's dataset is the user's collected examples stored so far, this batch's
            # included: fewer than the count that triggered it when some came from sessions
            # recorded by an external trainer, whose texts are not here.
            if dataset_size is None:
                dataset_size = await count_collected(db, history.user_id)
            [job_id] = await _insert_returning_ids(
                db,
                FineTuneJob,
                [
                    {
                        "user_id": history.user_id,
                        "status": FineTuneStatus.QUEUED,
                        "backend": fine_tune_backend,
                        "num_examples": dataset_size,
                        "triggered_by_session_id": history.session_id,
                        # The user's row is locked (or, on SQLite, writers take turns):
                        # every example of theirs stored later gets a larger id.
                        "last_example_id": max(example_ids),
                        "created_at": now,
                    }
                ],
            )
            triggered = True
        if decision.succeeded and outcome.winner is not None and outcome.final_quality is not None:
            new_tally = new_tally.with_success(
                outcome.sample.genre,
                outcome.winner,
                outcome.final_quality,
                story_saved=outcome.index in story_of,
            )
        else:
            new_tally = new_tally.with_failure(outcome.sample.genre)
        recorded.append(
            RecordedExample(
                outcome,
                example_id,
                story_of.get(outcome.index),
                decision.remembers,
                job_id,
                collected,
            )
        )

    await _write_summary(db, stored, new_tally, collected, triggered, now)
    await _count_genres(db, history.id, tally, new_tally)
    await _count_wins(db, history, tally, new_tally)
    await db.commit()
    return RecordedBatch(recorded, new_tally)


async def _insert_returning_ids(
    db: AsyncSession,
    table: type[Story] | type[TrainingExample] | type[FineTuneJob],
    rows: list[dict[str, object]],
) -> list[int]:
    """Insert `rows` and give their ids in the same order."""
    if not rows:
        return []
    core = table_of(table)
    statement = insert(core).returning(core.c.id, sort_by_parameter_order=True)
    return list((await db.execute(statement, rows)).scalars())


async def _insert_many(
    db: AsyncSession, table: type[Base], rows: Sequence[dict[str, object]]
) -> None:
    if rows:
        await db.execute(insert(table_of(table)), list(rows))


async def _write_summary(
    db: AsyncSession,
    before: TrainingHistory,
    tally: SessionTally,
    collected: int,
    triggered: bool,
    now: datetime,
) -> None:
    values: dict[str, object] = {
        "num_examples_successful": tally.successful,
        "num_examples_failed": tally.failed,
        "average_quality": one_decimal(tally.average_quality),
        "min_quality": one_decimal(tally.min_quality),
        "max_quality": one_decimal(tally.max_quality),
        "best_performing_model": tally.best_performing_model,
        "model_performance_json": tally.model_performance_json(),
        "genre_distribution_json": tally.genre_distribution_json(),
        "stories_saved_count": tally.stories_saved,
        "fine_tuning_examples": tally.fine_tuning_examples,
        "training_examples_after": collected,
        "total_time_seconds": max(0, round((now - before.started_at).total_seconds())),
        "updated_at": now,
    }
    if triggered:
        values["fine_tuning_triggered"] = True
    await update_session(db, before, values)


async def _count_genres(
    db: AsyncSession, history_id: int, before: SessionTally, after: SessionTally
) -> None:
    """The session's genre rows brought to `after`: one statement for the new genres and one
    for the changed, however many there are."""
    counts = table_of(SessionGenreCount)
    added = [
        {"history_id": history_id, "genre": genre, "count": count}
        for genre, count in after.genres.items()
        if genre not in before.genres
    ]
    changed = [
        {"key_history_id": history_id, "key_genre": genre, "count": count}
        for genre, count in after.genres.items()
        if genre in before.genres and before.genres[genre] != count
    ]
    if added:
        await db.execute(insert(counts), added)
    if changed:
        by_key = update(counts).where(
            counts.c.history_id == bindparam("key_history_id"),
            counts.c.genre == bindparam("key_genre"),
        )
        await db.execute(by_key, changed)


async def _count_wins(
    db: AsyncSession, history: TrainingHistory, before: SessionTally, after: SessionTally
) -> None:
    changed = {
        model: ModelScore(tally.wins, tally.total_quality)
        for model, tally in after.models.items()
        if before.models.get(model) != tally
    }
    await update_scores(db, history, changed)


async def tally_of(db: AsyncSession, history_id: int) -> SessionTally:
    """The aggregates of the examples already stored: where a resumed session starts from."""
    rows = (
        await db.execute(
            select(
                TrainingExample.genre,
                TrainingExample.status,
                TrainingExample.winner,
                TrainingExample.final_quality,
                TrainingExample.saved_story_id,
            )
            .where(TrainingExample.history_id == history_id)
            .order_by(TrainingExample.index)
        )
    ).all()
    tally = SessionTally()
    for genre, status, winner, quality, story_id in rows:
        if status is ExampleStatus.SUCCEEDED and winner is not None and quality is not None:
            tally = tally.with_success(genre, winner, quality, story_saved=story_id is not None)
        else:
            tally = tally.with_failure(genre)
    return tally


async def recorded_indexes(db: AsyncSession, history_id: int) -> set[int]:
    rows = await db.scalars(
        select(TrainingExample.index).where(TrainingExample.history_id == history_id)
    )
    return set(rows)


async def _share_lock_user(db: AsyncSession, history_id: int) -> None:
    """Share-lock the session's user's row before the session's, the recorder's order: a
    final status writes `completed_at`, in an index that starts with `user_id`, which
    MariaDB checks against the user's row; checked while holding the session's row, it
    would wait on a recorder that waits on the session: a deadlock."""
    if not on_sqlite(db):
        user_id = (
            select(TrainingHistory.user_id)
            .where(TrainingHistory.id == history_id)
            .scalar_subquery()
        )
        await db.execute(select(User.id).where(User.id == user_id).with_for_update(read=True))


async def set_status(
    db: AsyncSession,
    history_id: int,
    status: SessionStatus,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move the session to `status`; a final status sets its completion time and duration."""
    now = now or utcnow()
    if status.is_final:
        await _share_lock_user(db, history_id)
    history = await locked_session(db, history_id)
    values: dict[str, object] = {"status": status, "updated_at": now, "error": error}
    if status.is_final:
        values["completed_at"] = now
        values["total_time_seconds"] = max(0, round((now - history.started_at).total_seconds()))
        if history.training_examples_after is None:
            values["training_examples_after"] = history.training_examples_before
    await update_session(db, history, values)
    await db.commit()
