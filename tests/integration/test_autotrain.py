"""The original `POST /auto-train`, run through the real app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.tables import TrainingHistory
from tests.support import make_account
from tests.support.records import assert_record_agrees


async def test_a_session_runs_and_answers_with_the_original_fields(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    body = {
        "user_id": str(alice.id),
        "num_examples": 6,
        "genres": ["fantasy", "sci-fi"],
        "store_in_memory": True,
        "save_to_database": True,
    }
    response = await client.post("/auto-train", json=body, headers=alice.headers, timeout=60)
    assert response.status_code == 200, response.text
    result = response.json()
    assert {
        "successful",
        "stories_saved",
        "model_performance",
        "average_quality",
        "genre_distribution",
        "training_stats",
    } <= set(result)
    assert result["status"] == "COMPLETED"
    assert result["successful"] + result["failed"] == 6
    assert (
        sum(entry["count"] for entry in result["model_performance"].values())
        == result["successful"]
    )
    assert set(result["genre_distribution"]) <= {"FANTASY", "SCIENCE_FICTION"}
    assert sum(result["genre_distribution"].values()) == 6
    stats = result["training_stats"]
    assert stats["until_next_fine_tuning"] == 50 - stats["training_examples"] % 50
    async with session_factory(engine)() as db:
        stored = await db.scalar(
            select(TrainingHistory).where(TrainingHistory.session_id == result["session_id"])
        )
    assert stored is not None
    assert stored.user_id == alice.id
    await assert_record_agrees(engine, stored.id)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"num_examples": 0}, 400, "numExamples"),
        ({"num_examples": 1001}, 400, "numExamples"),
        ({"num_examples": 2, "genres": ["space opera"]}, 400, "genres"),
        ({"num_examples": 2, "teachers": ["nobody"]}, 400, "teachers"),
        ({"num_examples": 2, "surprise": 1}, 400, "surprise"),
        ({"num_examples": "many"}, 400, "num_examples"),
        ({"num_examples": 2, "voting": "loudest"}, 400, "voting"),
    ],
)
async def test_bad_requests_name_the_problem_and_write_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], status: int, field: str
) -> None:
    alice = await make_account(engine, "alice")
    response = await client.post("/auto-train", json=body, headers=alice.headers)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    async with session_factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(TrainingHistory)) == 0


async def test_auth_and_scoping(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    body = {"user_id": alice.id, "num_examples": 1}
    assert (await client.post("/auto-train", json=body)).status_code == 401
    assert (await client.post("/auto-train", json=body, headers=bob.headers)).status_code == 403
    async with session_factory(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(TrainingHistory)) == 0
