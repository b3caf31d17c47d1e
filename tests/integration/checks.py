"""What a test of hostile input checks after each input: nothing was written, no answer
holds internal text, and the owner's reads still work."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import Base
from models.engine import session_factory
from tests.support import Account

# What a client must never read: tracebacks, and the words of drivers and pools.
LEAKS = ("Traceback", "sqlalche.me", "sqlalchemy", "pymysql", "aiomysql", "sqlite3", "QueuePool")

OWNER_READS = """
{
  viewer { name }
  trainingStats { totalSessions totalExamplesGenerated averageQuality totalTrainingTimeSeconds
                  fineTuningExamples untilNextFineTuning }
  modelLeaderboard { model wins averageQuality sessions }
  trainingHistory(first: 100, orderBy: AVERAGE_QUALITY_DESC) {
    totalCount
    edges { cursor node { sessionId numExamplesRequested totalTimeSeconds averageQuality seed
                          startedAt completedAt
                          modelPerformance { model wins averageQuality totalQuality }
                          genreDistribution { genre count }
                          examples(first: 5) { edges { node { index outputs { truncated } } } } } }
  }
}
"""


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many rows each table holds."""
    async with session_factory(engine)() as db:
        return {
            table.name: int(await db.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def assert_nothing_internal(text: str) -> None:
    leaked = [leak for leak in LEAKS if leak in text]
    assert not leaked, f"{leaked} in {text[:500]}"


async def assert_owner_reads_work(client: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    """The owner's GraphQL statistics and history, and the REST list and totals: all answer,
    with no error."""
    response = await client.post("/graphql", json={"query": OWNER_READS}, headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    for path in ("", "/stats", "/recent", "/paginated"):
        listed = await client.get(
            f"/api/training-history/user/{owner.id}{path}", headers=owner.headers
        )
        assert listed.status_code == 200, listed.text
    data: dict[str, Any] = body["data"]
    return data
