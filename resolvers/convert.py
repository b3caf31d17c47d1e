"""Rows of the database as the API's types."""

from __future__ import annotations

import json
from typing import cast

from strawberry.scalars import JSON

from models import tables
from models.enums import Genre
from schema import types
from schema.node import global_id


def user(row: tables.User) -> types.User:
    return types.User(
        id=global_id("User", row.id), user_id=row.id, name=row.name, is_admin=row.is_admin
    )


def _genres(raw: str | None) -> list[Genre]:
    names = json.loads(raw) if raw else []
    return [Genre[name] for name in names if name in Genre.__members__]


def session(row: tables.TrainingHistory) -> types.TrainingSession:
    return types.TrainingSession(
        id=global_id("TrainingSession", row.session_id),
        db_id=row.id,
        session_id=row.session_id,
        user_id=row.user_id,
        status=row.status,
        num_examples_requested=row.num_examples_requested,
        num_examples_successful=row.num_examples_successful,
        num_examples_failed=row.num_examples_failed,
        genres_selected=_genres(row.genres_selected),
        stored_in_memory=row.stored_in_memory,
        saved_to_database=row.saved_to_database,
        stories_saved_count=row.stories_saved_count,
        average_quality=row.average_quality,
        min_quality=row.min_quality,
        max_quality=row.max_quality,
        best_performing_model=row.best_performing_model,
        voting_strategy=row.voting_strategy,
        teachers=json.loads(row.teachers_json or "[]"),
        total_time_seconds=row.total_time_seconds,
        training_examples_before=row.training_examples_before,
        training_examples_after=row.training_examples_after,
        fine_tuning_triggered=row.fine_tuning_triggered,
        fine_tuning_examples=row.fine_tuning_examples,
        started_at=row.started_at,
        completed_at=row.completed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        seed=row.seed,
        error=row.error,
    )


def model_performance(row: tables.SessionModelStats) -> types.ModelPerformance:
    return types.ModelPerformance(
        model=row.model,
        wins=row.wins,
        average_quality=round(row.total_quality / row.wins, 2) if row.wins else 0.0,
        total_quality=round(row.total_quality, 2),
    )


def genre_count(row: tables.SessionGenreCount) -> types.GenreCount:
    return types.GenreCount(genre=row.genre, count=row.count)


def example(row: tables.TrainingExample) -> types.TrainingExample:
    return types.TrainingExample(
        db_id=row.id,
        index=row.index,
        genre=row.genre,
        prompt=row.prompt,
        style=row.style,
        status=row.status,
        winner=row.winner,
        text=row.text,
        text_quality=row.text_quality,
        confidence=row.confidence,
        final_quality=row.final_quality,
        saved_story_id=(
            global_id("Story", row.saved_story_id) if row.saved_story_id is not None else None
        ),
        stored_in_memory=row.stored_in_memory,
        error=row.error,
        best_parameters=cast(JSON, row.best_parameters),
    )


def output(row: tables.TeacherOutput) -> types.TeacherOutput:
    return types.TeacherOutput(
        model=row.model,
        text=row.text,
        latency_ms=row.latency_ms,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        text_quality=row.text_quality,
        error=row.error,
    )


def vote(row: tables.Vote) -> types.Vote:
    return types.Vote(voter=row.voter, candidate=row.candidate)


def story(row: tables.Story) -> types.Story:
    return types.Story(
        id=global_id("Story", row.id),
        title=row.title,
        genre=row.genre,
        content=row.content,
        quality=row.quality,
        model=row.model,
        auto_generated=row.auto_generated,
        session_id=row.session_id,
        created_at=row.created_at,
    )


def dataset_url(job_id: int, kind: str) -> str:
    return f"/api/fine-tune-jobs/{job_id}/{kind}.jsonl"


def fine_tune_job(row: tables.FineTuneJob) -> types.FineTuneJob:
    has_dataset = row.dataset_path is not None
    return types.FineTuneJob(
        id=global_id("FineTuneJob", row.id),
        job_id=row.id,
        status=row.status,
        backend=row.backend,
        num_examples=row.num_examples,
        triggered_by_session_id=row.triggered_by_session_id,
        dataset_url=dataset_url(row.id, "dataset") if has_dataset else None,
        preference_dataset_url=dataset_url(row.id, "preferences") if has_dataset else None,
        external_job_id=row.external_job_id,
        fine_tuned_model=row.fine_tuned_model,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
