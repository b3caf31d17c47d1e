"""A stored session checked against itself: its summary is what its examples say."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.enums import ExampleStatus
from models.tables import (
    MemoryEntry,
    SessionGenreCount,
    SessionModelStats,
    Story,
    TeacherOutput,
    TrainingExample,
    TrainingHistory,
    Vote,
)


async def assert_record_agrees(engine: AsyncEngine, history_id: int) -> None:
    """The session's summary is exactly what its stored examples say."""
    async with session_factory(engine)() as db:
        history = await db.get(TrainingHistory, history_id)
        assert history is not None
        examples = (
            await db.scalars(
                select(TrainingExample).where(TrainingExample.history_id == history_id)
            )
        ).all()
        won = [e for e in examples if e.status is ExampleStatus.SUCCEEDED]
        qualities = [e.final_quality for e in won if e.final_quality is not None]
        assert history.num_examples_successful == len(won)
        assert history.num_examples_failed == len(examples) - len(won)
        if qualities:
            assert history.average_quality == round(sum(qualities) / len(qualities), 1)
            assert history.min_quality == round(min(qualities), 1)
            assert history.max_quality == round(max(qualities), 1)
        wins = Counter(e.winner for e in won)
        stats = {
            row.model: row
            for row in await db.scalars(
                select(SessionModelStats).where(SessionModelStats.history_id == history_id)
            )
        }
        for model, row in stats.items():
            assert row.wins == wins.get(model, 0)
            assert row.total_quality == pytest.approx(
                sum(e.final_quality or 0 for e in won if e.winner == model)
            )
        if wins:
            top = max(wins.values())
            assert wins[history.best_performing_model] == top
        performance = json.loads(history.model_performance_json or "{}")
        assert {m: p["count"] for m, p in performance.items()} == dict(wins)
        genres = Counter(e.genre for e in examples)
        counted = {
            row.genre: row.count
            for row in await db.scalars(
                select(SessionGenreCount).where(SessionGenreCount.history_id == history_id)
            )
        }
        assert counted == dict(genres)
        assert json.loads(history.genre_distribution_json or "{}") == {
            g.name: n for g, n in genres.items()
        }
        stories = (
            await db.scalars(select(Story).where(Story.session_id == history.session_id))
        ).all()
        assert history.stories_saved_count == len(stories)
        assert {s.id for s in stories} == {e.saved_story_id for e in won if e.saved_story_id}
        if history.saved_to_database:
            assert all((e.final_quality or 0) >= 8.0 for e in won if e.saved_story_id)
            assert all(e.saved_story_id for e in won if (e.final_quality or 0) >= 8.0)
        collected = [e for e in won if (e.final_quality or 0) >= 7.0]
        assert history.fine_tuning_examples == len(collected)
        assert history.training_examples_after == history.training_examples_before + len(collected)
        memory = (
            await db.scalars(
                select(MemoryEntry).where(MemoryEntry.example_id.in_([e.id for e in examples]))
            )
        ).all()
        assert len(memory) == (len(collected) if history.stored_in_memory else 0)
        for example in examples:
            outputs = (
                await db.scalars(
                    select(TeacherOutput).where(TeacherOutput.example_id == example.id)
                )
            ).all()
            assert len(outputs) == len(json.loads(history.teachers_json))
            if example.status is ExampleStatus.SUCCEEDED:
                valid = [o for o in outputs if o.error is None]
                assert example.winner in {o.model for o in valid}
                votes = (await db.scalars(select(Vote).where(Vote.example_id == example.id))).all()
                assert all(v.voter != v.candidate for v in votes)
            else:
                assert all(o.error for o in outputs)
