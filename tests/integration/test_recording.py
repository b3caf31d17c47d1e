"""Recording sessions of an external trainer through GraphQL: stored, validated, counted."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.external_sessions import RecordedSession
from models.tables import SessionGenreCount, SessionModelStats, TrainingHistory
from schema.inputs import TrainingSessionInput
from tests.support import error_codes, graphql, graphql_data, make_account

RECORD = """
mutation($input: TrainingSessionInput!) {
  recordTrainingSession(input: $input) {
    sessionId userId status numExamplesSuccessful averageQuality bestPerformingModel
    genresSelected fineTuningTriggered startedAt completedAt
    modelPerformance { model wins averageQuality totalQuality }
    genreDistribution { genre count }
  }
}
"""


def session_input(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "sessionId": "a1b2c3d4e5f6",
        "numExamplesRequested": 20,
        "numExamplesSuccessful": 18,
        "numExamplesFailed": 2,
        "genresSelected": ["FANTASY", "MYSTERY", "SCIENCE_FICTION"],
        "savedToDatabase": True,
        "storiesSavedCount": 5,
        "averageQuality": 8.4,
        "minQuality": 7.1,
        "maxQuality": 9.8,
        "bestPerformingModel": "gemini-2.0",
        "modelPerformanceJson": json.dumps(
            {
                "gemini-2.0": {"count": 8, "avg_quality": 8.9},
                "groq-llama": {"count": 6, "avg_quality": 8.3},
                "claude-sonnet": {"count": 4, "avg_quality": 7.8},
            }
        ),
        "genreDistributionJson": json.dumps({"fantasy": 7, "mystery": 6, "sci-fi": 5}),
        "totalTimeSeconds": 360,
        "trainingExamplesBefore": 30,
        "trainingExamplesAfter": 48,
        "startedAt": "2026-01-20T10:30:00+00:00",
        "completedAt": "2026-01-20T10:36:00+00:00",
    }
    value.update(overrides)
    return value


def original_fields() -> set[str]:
    """The fields of the original record that `recorded_session` reads, by their snake_case
    names; the two it derives from the JSON fields are not given."""
    derived = {"model_performance", "genre_distribution"}
    return {f.name for f in dataclasses.fields(RecordedSession)} - derived


def test_the_input_gives_every_field_a_recorded_session_reads() -> None:
    given = {f.name for f in dataclasses.fields(TrainingSessionInput)}
    assert given - {"user_id"} == original_fields()


async def stored_rows(engine: AsyncEngine) -> tuple[int, int, int]:
    async with session_factory(engine)() as db:
        counts = []
        for table in (TrainingHistory, SessionModelStats, SessionGenreCount):
            counts.append(int(await db.scalar(select(func.count()).select_from(table)) or 0))
        return counts[0], counts[1], counts[2]


async def test_a_recorded_session_counts_like_a_trained_one(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    recorded = (await graphql_data(client, RECORD, {"input": session_input()}, account=alice))[
        "recordTrainingSession"
    ]
    assert recorded["userId"] == alice.id
    assert recorded["status"] == "COMPLETED"
    assert recorded["startedAt"] == "2026-01-20T10:30:00+00:00"
    assert recorded["modelPerformance"][0] == {
        "model": "gemini-2.0",
        "wins": 8,
        "averageQuality": 8.9,
        "totalQuality": 71.2,
    }
    assert recorded["genreDistribution"] == [
        {"genre": "FANTASY", "count": 7},
        {"genre": "MYSTERY", "count": 6},
        {"genre": "SCIENCE_FICTION", "count": 5},
    ]
    data = await graphql_data(
        client,
        """{ trainingStats { totalSessions totalExamplesGenerated totalStoriesSaved averageQuality
               totalTrainingTimeSeconds fineTuningExamples untilNextFineTuning }
             modelLeaderboard { model wins sessions averageQuality }
             trainingHistory(filter: {genre: MYSTERY}) { totalCount } }""",
        account=alice,
    )
    assert data["trainingStats"] == {
        "totalSessions": 1,
        "totalExamplesGenerated": 18,
        "totalStoriesSaved": 5,
        "averageQuality": 8.4,
        "totalTrainingTimeSeconds": 360,
        "fineTuningExamples": 18,
        "untilNextFineTuning": 32,
    }
    assert data["modelLeaderboard"][0] == {
        "model": "gemini-2.0",
        "wins": 8,
        "sessions": 1,
        "averageQuality": 8.9,
    }
    assert data["trainingHistory"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"numExamplesFailed": -1, "numExamplesSuccessful": 21}, "numExamplesFailed"),
        ({"numExamplesFailed": 3}, "numExamplesSuccessful"),
        ({"minQuality": 8.5}, "minQuality"),
        ({"maxQuality": 10.5}, "maxQuality"),
        ({"averageQuality": 9.9}, "averageQuality"),
        ({"completedAt": "2026-01-20T10:00:00+00:00"}, "completedAt"),
        ({"modelPerformanceJson": "{not json"}, "modelPerformanceJson"),
        ({"modelPerformanceJson": "[1, 2]"}, "modelPerformanceJson"),
        ({"modelPerformanceJson": '{"m": {"count": -2}}'}, "modelPerformanceJson"),
        ({"genreDistributionJson": '{"space opera": 3}'}, "genreDistributionJson"),
        ({"genreDistributionJson": "nope"}, "genreDistributionJson"),
        ({"storiesSavedCount": 19}, "storiesSavedCount"),
        ({"sessionId": ""}, "sessionId"),
        ({"userId": 999_999}, "userId"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, overrides: dict[str, Any], field: str
) -> None:
    admin = await make_account(engine, "root", admin=True)
    body = await graphql(client, RECORD, {"input": session_input(**overrides)}, account=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field
    assert await stored_rows(engine) == (0, 0, 0)


async def test_a_duplicate_session_id_is_a_clear_conflict(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    await graphql_data(client, RECORD, {"input": session_input()}, account=alice)
    body = await graphql(client, RECORD, {"input": session_input()}, account=alice)
    assert error_codes(body) == ["CONFLICT"]
    assert "a1b2c3d4e5f6" in body["errors"][0]["message"]
    assert await stored_rows(engine) == (1, 3, 3)


async def test_only_an_admin_records_for_another_user(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    admin = await make_account(engine, "root", admin=True)
    body = await graphql(client, RECORD, {"input": session_input(userId=alice.id)}, account=bob)
    assert error_codes(body) == ["FORBIDDEN"]
    assert await stored_rows(engine) == (0, 0, 0)
    data = await graphql_data(
        client, RECORD, {"input": session_input(userId=alice.id)}, account=admin
    )
    assert data["recordTrainingSession"]["userId"] == alice.id
