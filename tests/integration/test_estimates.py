"""A new session's estimate and the teachers' latencies come from the outputs recorded in the
database, so an API process that runs no session (with the sessions on workers) answers from
what the workers recorded, not from a typical latency."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.engine import session_factory
from models.latencies import recent_latencies_ms
from models.tables import TeacherOutput, TrainingExample
from tests.support import Account, graphql_data, make_account
from tests.support.factories import add_session

LATENCIES = "{ teachers { name averageLatencyMs } }"
ESTIMATE = "{ estimateTrainingTime(numExamples: 16, voting: CONSENSUS) }"


@pytest.fixture
async def account(engine: AsyncEngine) -> Account:
    return await make_account(engine, "estimates")


async def record_outputs(engine: AsyncEngine, user_id: int, latencies: dict[str, int]) -> None:
    """One recorded example whose outputs took `latencies` (by teacher)."""
    history = await add_session(engine, user_id)
    async with session_factory(engine)() as db:
        example = TrainingExample(
            history_id=history.id,
            index=0,
            genre="FANTASY",
            prompt="a prompt",
            status="SUCCEEDED",
        )
        db.add(example)
        await db.flush()
        db.add_all(
            TeacherOutput(example_id=example.id, model=name, text="a story", latency_ms=ms)
            for name, ms in latencies.items()
        )
        await db.commit()


async def test_the_teachers_latencies_are_those_recorded_by_any_process(
    client: httpx.AsyncClient, engine: AsyncEngine, account: Account
) -> None:
    before = await graphql_data(client, LATENCIES, account=account)
    names = [teacher["name"] for teacher in before["teachers"]]
    assert [teacher["averageLatencyMs"] for teacher in before["teachers"]] == [None] * len(names)
    typical = (await graphql_data(client, ESTIMATE, account=account))["estimateTrainingTime"]

    # What a worker in another process recorded: every teacher took 2 s, then 4 s.
    await record_outputs(engine, account.id, dict.fromkeys(names, 2000))
    await record_outputs(engine, account.id, dict.fromkeys(names, 4000))

    after = await graphql_data(client, LATENCIES, account=account)
    assert {teacher["averageLatencyMs"] for teacher in after["teachers"]} == {3000.0}
    observed = (await graphql_data(client, ESTIMATE, account=account))["estimateTrainingTime"]
    # 16 examples, 8 at a time, each as slow as its slowest teacher: two rounds of 3 s. The
    # settings' offline latency is 0, so before any record the estimate was far lower.
    assert observed == pytest.approx(6.0, rel=0.01)
    assert typical < observed


async def test_only_the_latest_outputs_count(
    engine: AsyncEngine, db: AsyncSession, account: Account
) -> None:
    await record_outputs(engine, account.id, {"alpha": 9000, "beta": 9000})
    await record_outputs(engine, account.id, {"alpha": 100, "gamma": 300})
    assert await recent_latencies_ms(db, within=2) == {"alpha": 100.0, "gamma": 300.0}
    assert await recent_latencies_ms(db, within=4) == {
        "alpha": 4550.0,
        "beta": 9000.0,
        "gamma": 300.0,
    }
