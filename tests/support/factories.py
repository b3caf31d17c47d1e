"""Stored sessions for tests, written straight to the database as the trainer would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from models import totals
from models.engine import session_factory
from models.enums import ExampleStatus, Genre, SessionStatus, VotingStrategy
from models.tables import (
    SessionGenreCount,
    TeacherOutput,
    TrainingExample,
    TrainingHistory,
    Vote,
)
from models.totals import ModelScore

T0 = datetime(2026, 1, 20, 10, 30, tzinfo=UTC)
MODELS = ("alpha", "beta", "gamma")


async def add_session(
    engine: AsyncEngine,
    user_id: int,
    *,
    started_at: datetime = T0,
    average_quality: float | None = 8.0,
    status: SessionStatus = SessionStatus.COMPLETED,
    genres: Sequence[Genre] = (Genre.FANTASY,),
    examples: int = 0,
    fine_tuning_triggered: bool = False,
    fine_tuning_examples: int = 0,
    stories_saved: int = 0,
    total_time_seconds: int = 60,
) -> TrainingHistory:
    """A finished session; with `examples`, each has three outputs and the votes between them."""
    successful = examples or 4
    async with session_factory(engine)() as db:
        history = TrainingHistory(
            user_id=user_id,
            session_id=uuid.uuid4().hex,
            num_examples_requested=successful,
            num_examples_successful=successful,
            num_examples_failed=0,
            genres_selected=json.dumps([genre.name for genre in genres]),
            stories_saved_count=stories_saved,
            average_quality=average_quality,
            min_quality=None if average_quality is None else max(0.0, average_quality - 1),
            max_quality=None if average_quality is None else min(10.0, average_quality + 1),
            best_performing_model="alpha",
            total_time_seconds=total_time_seconds,
            training_examples_before=0,
            training_examples_after=fine_tuning_examples,
            fine_tuning_triggered=fine_tuning_triggered,
            fine_tuning_examples=fine_tuning_examples,
            started_at=started_at,
            completed_at=started_at + timedelta(seconds=total_time_seconds),
            status=status,
            voting_strategy=VotingStrategy.JURY,
            teachers_json=json.dumps(list(MODELS)),
        )
        db.add(history)
        await db.flush()
        await totals.add_session(
            db,
            history,
            {
                "alpha": ModelScore(wins=3, total_quality=25.5),
                "beta": ModelScore(wins=1, total_quality=7.5),
                "gamma": ModelScore(wins=0, total_quality=0.0),
            },
        )
        db.add_all(
            SessionGenreCount(history_id=history.id, genre=genre, count=2) for genre in genres
        )
        for index in range(examples):
            example = TrainingExample(
                history_id=history.id,
                index=index,
                genre=genres[index % len(genres)],
                prompt=f"prompt {index}",
                style="as a fable",
                status=ExampleStatus.SUCCEEDED,
                winner="alpha",
                text=f"story {index}",
                text_quality=8.5,
                confidence=0.5,
                final_quality=7.45,
                stored_in_memory=False,
            )
            db.add(example)
            await db.flush()
            db.add_all(
                TeacherOutput(
                    example_id=example.id, model=model, text=f"{model} {index}", latency_ms=100
                )
                for model in MODELS
            )
            db.add_all(
                [
                    Vote(example_id=example.id, voter="beta", candidate="alpha"),
                    Vote(example_id=example.id, voter="gamma", candidate="alpha"),
                ]
            )
        await db.commit()
        return history
