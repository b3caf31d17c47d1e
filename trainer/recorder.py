"""Writing a session as it happens: each finished example, with its outputs, votes, story,
memory entry and the session's aggregates, in one transaction, so a crash loses at most the
examples in flight and the summary always agrees with the examples stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from models import sessions
from models.base import utcnow
from models.enums import EndReason, ExampleStatus, Genre, SessionStatus
from models.errors import LeaseLost
from models.examples import (
    add_examples,
    add_outputs,
    add_votes,
    count_collected,
    example_results,
    model_usage,
)
from models.fine_tuning import queue_job
from models.history import (
    FINE_TUNING_MIN_QUALITY,
    FINE_TUNING_THRESHOLD,
    fine_tuning_examples_collected,
)
from models.memory import add_memories
from models.sessions import lock_user, new_session, write_genre_counts
from models.stories import add_stories
from models.tables import TrainingHistory
from models.totals import ModelScore, locked_session, update_scores, update_session
from trainer import metrics
from trainer.catalog import GENRE_LABELS
from trainer.example import ExampleOutcome
from trainer.plan import SessionPlan
from trainer.spend import Spend
from trainer.tally import STORY_MIN_QUALITY, SessionTally, one_decimal


async def create_session(
    db: AsyncSession,
    user_id: int,
    plan: SessionPlan,
    *,
    status: SessionStatus = SessionStatus.QUEUED,
    session_id: str | None = None,
    lease_owner: str | None = None,
    lease_until: datetime | None = None,
) -> TrainingHistory:
    """The session's record, before its first example; committed by the caller."""
    return await new_session(
        db,
        user_id,
        session_id=session_id or uuid.uuid4().hex,
        status=status,
        num_examples=plan.num_examples,
        genres=plan.genres,
        teachers=plan.teachers,
        voting=plan.voting,
        seed=plan.seed,
        store_in_memory=plan.store_in_memory,
        save_to_database=plan.save_to_database,
        max_cost_usd=plan.max_cost_usd,
        lease_owner=lease_owner,
        lease_until=lease_until,
    )


async def create_leased_session(
    db: AsyncSession, user_id: int, plan: SessionPlan, owner: str, lease_s: float
) -> TrainingHistory:
    """A new session RUNNING under `owner`'s lease for `lease_s` seconds from now (a negative
    `lease_s`: one that ran out that long ago); committed by the caller."""
    return await create_session(
        db,
        user_id,
        plan,
        status=SessionStatus.RUNNING,
        lease_owner=owner,
        lease_until=utcnow() + timedelta(seconds=lease_s),
    )


def plan_of(history: TrainingHistory) -> SessionPlan:
    return SessionPlan(
        num_examples=history.num_examples_requested,
        genres=tuple(Genre[name] for name in json.loads(history.genres_selected or "[]")),
        teachers=tuple(json.loads(history.teachers_json)),
        voting=history.voting_strategy,
        seed=history.seed if history.seed is not None else 0,
        store_in_memory=history.stored_in_memory,
        save_to_database=history.saved_to_database,
        max_cost_usd=history.max_cost_usd,
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
    owner: str | None = None,
    now: datetime | None = None,
) -> RecordedBatch:
    """Store finished examples and bring the session's summary up to date, in one
    transaction: a statement per table for the whole batch, however many examples. With
    `owner`, only while that worker holds the session's lease: else LeaseLost, and nothing
    of the batch is written."""
    now = now or utcnow()
    # Serialises a user's concurrent sessions, so that two of them cannot both trigger the
    # same fine-tuning run.
    await lock_user(db, history.user_id)
    # Locked before the examples' inserts refer to it, so that it is locked once, in the
    # order models/totals.py keeps, not shared first and upgraded later.
    stored = await locked_session(db, history.id)
    if owner is not None and stored.lease_owner != owner:
        # Known already, without writing: the summary's update checks it again, atomically.
        history_id = history.id  # the rollback may expire `history`
        await db.rollback()
        raise LeaseLost(f"session {history_id} is no longer {owner}'s")
    decisions = [_decide(plan, outcome) for outcome in outcomes]

    story_of = await _store_stories(db, history, decisions, now)
    example_ids = await _store_examples(db, history, decisions, story_of, now)
    await _store_outputs_and_votes(db, decisions, example_ids)
    await _remember(db, history, decisions, example_ids, now)
    collected = await _trigger_fine_tuning(
        db, history, decisions, example_ids, fine_tune_backend, now
    )

    new_tally = _tally_after(tally, decisions, story_of)
    await _write_summary(db, stored, new_tally, collected, now, owner)
    await write_genre_counts(db, history.id, tally.genres, new_tally.genres)
    await _count_wins(db, history, tally, new_tally)
    await db.commit()
    _count_in_metrics(outcomes)
    recorded = [
        RecordedExample(
            decision.outcome,
            example_id,
            story_of.get(decision.outcome.index),
            decision.remembers,
            job_id,
            examples_collected,
        )
        for decision, example_id, examples_collected, job_id in zip(
            decisions, example_ids, collected.after_each, collected.jobs, strict=True
        )
    ]
    return RecordedBatch(recorded, new_tally)


def _count_in_metrics(outcomes: Sequence[ExampleOutcome]) -> None:
    """The recorded examples, and their outputs' tokens and cost by teacher."""
    succeeded = sum(1 for outcome in outcomes if outcome.succeeded)
    metrics.examples_recorded(succeeded, len(outcomes) - succeeded)
    for outcome in outcomes:
        for output in outcome.outputs:
            spend = output.spend
            metrics.teacher_metrics(output.teacher).spent(
                spend.prompt_tokens, spend.completion_tokens, spend.cost_usd
            )


async def _store_stories(
    db: AsyncSession, history: TrainingHistory, decisions: list[_Decision], now: datetime
) -> dict[int, int]:
    """The stories of the examples that save one; their ids by example index."""
    saving = [d.outcome for d in decisions if d.saves_story]
    story_ids = await add_stories(
        db,
        [
            {
                "user_id": history.user_id,
                "title": _title(outcome),
                "genre": outcome.sample.genre,
                "content": outcome.text,
                "quality": round(outcome.final_quality or 0.0, 2),
                "model": outcome.winner,
                "auto_generated": True,
                "session_id": history.session_id,
                "created_at": now,
            }
            for outcome in saving
        ],
    )
    return {outcome.index: story_id for outcome, story_id in zip(saving, story_ids, strict=True)}


async def _store_examples(
    db: AsyncSession,
    history: TrainingHistory,
    decisions: list[_Decision],
    story_of: dict[int, int],
    now: datetime,
) -> list[int]:
    """Every example of the batch, succeeded or failed; their ids in the batch's order."""
    return await add_examples(
        db,
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
                **_spend_columns(d.outcome.spend),
            }
            for d in decisions
        ],
    )


async def _store_outputs_and_votes(
    db: AsyncSession, decisions: list[_Decision], example_ids: list[int]
) -> None:
    """Every teacher's output of each example, and every vote cast on it."""
    await add_outputs(
        db,
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
                "judge_prompt_tokens": output.judge_prompt_tokens,
                "judge_completion_tokens": output.judge_completion_tokens,
                "cost_usd": output.cost_usd,
                "truncated": output.truncated,
            }
            for d, example_id in zip(decisions, example_ids, strict=True)
            for output in d.outcome.outputs
        ],
    )
    await add_votes(
        db,
        [
            {"example_id": example_id, "voter": v.voter, "candidate": v.candidate}
            for d, example_id in zip(decisions, example_ids, strict=True)
            if d.outcome.result is not None
            for v in d.outcome.result.votes
        ],
    )


async def _remember(
    db: AsyncSession,
    history: TrainingHistory,
    decisions: list[_Decision],
    example_ids: list[int],
    now: datetime,
) -> None:
    """The examples the session keeps in the user's memory."""
    await add_memories(
        db,
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


@dataclass(frozen=True)
class _Collected:
    """The user's count of examples toward fine-tuning as the batch is kept."""

    after_each: list[int]
    # The fine-tune job each example triggered, if it did.
    jobs: list[int | None]
    total: int

    @property
    def triggered(self) -> bool:
        return any(job_id is not None for job_id in self.jobs)


async def _trigger_fine_tuning(
    db: AsyncSession,
    history: TrainingHistory,
    decisions: list[_Decision],
    example_ids: list[int],
    fine_tune_backend: str,
    now: datetime,
) -> _Collected:
    """Count the batch's examples toward fine-tuning in order, and queue a fine-tune job
    at each multiple of FINE_TUNING_THRESHOLD the count crosses."""
    collected = await fine_tuning_examples_collected(db, history.user_id)
    after_each: list[int] = []
    jobs: list[int | None] = []
    dataset_size: int | None = None
    for decision in decisions:
        before, collected = collected, collected + int(decision.collects)
        job_id = None
        if collected // FINE_TUNING_THRESHOLD > before // FINE_TUNING_THRESHOLD:
            # The job's dataset is the user's collected examples stored so far, this batch's
            # included: fewer than the count that triggered it when some came from sessions
            # recorded by an external trainer, whose texts are not here.
            if dataset_size is None:
                dataset_size = await count_collected(db, history.user_id)
            job_id = await queue_job(
                db,
                user_id=history.user_id,
                backend=fine_tune_backend,
                num_examples=dataset_size,
                session_id=history.session_id,
                # The user's row is locked (or, on SQLite, writers take turns): every
                # example of theirs stored later gets a larger id.
                last_example_id=max(example_ids),
                now=now,
            )
        after_each.append(collected)
        jobs.append(job_id)
    return _Collected(after_each, jobs, collected)


def _tally_after(
    tally: SessionTally, decisions: list[_Decision], story_of: dict[int, int]
) -> SessionTally:
    for decision in decisions:
        outcome = decision.outcome
        tally = tally.with_spend({output.teacher: output.spend for output in outcome.outputs})
        if decision.succeeded and outcome.winner is not None and outcome.final_quality is not None:
            tally = tally.with_success(
                outcome.sample.genre,
                outcome.winner,
                outcome.final_quality,
                story_saved=outcome.index in story_of,
            )
        else:
            tally = tally.with_failure(outcome.sample.genre)
    return tally


async def _write_summary(
    db: AsyncSession,
    before: TrainingHistory,
    tally: SessionTally,
    collected: _Collected,
    now: datetime,
    owner: str | None,
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
        **_spend_columns(tally.spend),
        "training_examples_after": collected.total,
        "total_time_seconds": max(0, round((now - before.started_at).total_seconds())),
        "updated_at": now,
    }
    if collected.triggered:
        values["fine_tuning_triggered"] = True
    await update_session(db, before, values, owner=owner)


async def _count_wins(
    db: AsyncSession, history: TrainingHistory, before: SessionTally, after: SessionTally
) -> None:
    changed = {
        model: ModelScore(
            tally.wins,
            tally.total_quality,
            tally.spend.prompt_tokens,
            tally.spend.completion_tokens,
            tally.spend.cost_usd,
        )
        for model, tally in after.models.items()
        if before.models.get(model) != tally
    }
    await update_scores(db, history, changed)


def _spend_columns(spend: Spend) -> dict[str, object]:
    return {
        "prompt_tokens": spend.prompt_tokens,
        "completion_tokens": spend.completion_tokens,
        "cost_usd": spend.cost_usd,
    }


async def tally_of(db: AsyncSession, history_id: int) -> SessionTally:
    """The aggregates of the examples already stored: where a resumed session starts from."""
    tally = SessionTally()
    for genre, status, winner, quality, story_id in await example_results(db, history_id):
        if status is ExampleStatus.SUCCEEDED and winner is not None and quality is not None:
            tally = tally.with_success(genre, winner, quality, story_saved=story_id is not None)
        else:
            tally = tally.with_failure(genre)
    spends = {
        usage.model: Spend(usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
        for usage in await model_usage(db, history_id)
    }
    return tally.with_spend(spends)


async def set_status(
    db: AsyncSession,
    history_id: int,
    status: SessionStatus,
    *,
    error: str | None = None,
    end_reason: EndReason | None = None,
    owner: str | None = None,
) -> None:
    """models.sessions.set_status, counted in the metrics once a final status is written."""
    await sessions.set_status(
        db, history_id, status, error=error, end_reason=end_reason, owner=owner
    )
    if status.is_final:
        metrics.session_ended(status)
