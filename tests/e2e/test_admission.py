"""A burst of readers far above the connection pool, on a `chorus serve` process: the admission
queue absorbs it, so that every reader is answered; without it, the same burst on the same
pool is partly told to try again."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import Account, make_account
from tests.support.factories import add_session
from tests.support.live import LiveServer

READERS = 150
READ = """{ trainingHistory(first: 20) { totalCount edges { node { sessionId status
    modelPerformance { model wins averageQuality } } } }
  trainingStats { totalSessions averageQuality untilNextFineTuning } }"""
# Three connections (a pool of one, and twice as many more in a burst), and a reader is
# told to try again after half a second without one.
SMALL_POOL: dict[str, Any] = {"db_pool_size": 1, "db_pool_timeout_s": 0.5}


async def burst(server: LiveServer, account: Account) -> list[str]:
    """READERS readers at once, a third of them over REST: what each failed one was told."""
    limits = httpx.Limits(max_connections=READERS)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:

        async def read(number: int) -> str:
            if number % 3:
                answer = await http.post("/graphql", json={"query": READ}, headers=account.headers)
                ok = answer.status_code == 200 and "errors" not in answer.json()
            else:
                path = f"/api/training-history/user/{account.id}/paginated?size=20"
                answer = await http.get(path, headers=account.headers)
                ok = answer.status_code == 200
            return "" if ok else answer.text

        answers = await asyncio.gather(*(read(number) for number in range(READERS)))
    return [answer for answer in answers if answer]


async def stored(engine: AsyncEngine) -> Account:
    alice = await make_account(engine, "alice")
    for _ in range(20):
        await add_session(engine, alice.id)
    return alice


async def test_a_burst_far_above_the_pool_is_answered(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await stored(engine)
    with LiveServer(database_url, **SMALL_POOL) as server:
        failed = await burst(server, alice)
    assert failed == [], failed[:3]


async def test_without_admission_the_same_burst_exhausts_the_pool(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await stored(engine)
    unlimited: dict[str, Any] = {**SMALL_POOL, "max_active_requests": READERS * 10}
    with LiveServer(database_url, **unlimited) as server:
        failed = await burst(server, alice)
    assert failed
    assert all("SERVICE_UNAVAILABLE" in answer for answer in failed), failed[:3]
