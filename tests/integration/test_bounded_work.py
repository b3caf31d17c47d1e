"""Work a user can ask for is bounded: sessions waiting to run, and how much of a teacher's
answer is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from models.engine import session_factory
from models.enums import SessionStatus, VotingStrategy
from models.tables import TeacherOutput, TrainingHistory
from server.app import create_app
from server.settings import Settings
from tests.support import error_codes, eventually, graphql, graphql_data, make_account
from tests.support.factories import add_session
from tests.support.fake_provider import FakeProvider, reply
from trainer.events import CollectingSink
from trainer.plan import make_plan
from trainer.session import RunnerOptions
from trainer.teachers.base import TeacherConfig
from trainer.teachers.ensemble import build_ensemble
from trainer.training import train

START = "mutation { startTraining(input: {numExamples: 50, seed: 1}) { sessionId status } }"
RESUME = "mutation ($id: String!) { resumeTraining(sessionId: $id) { status } }"


@pytest.fixture
async def slow_client(engine: AsyncEngine, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One session of a user runs at a time, slowly, and two may wait."""
    app: Starlette = create_app(
        settings.model_copy(
            update={
                "offline_latency_ms": 2000,
                "max_running_sessions_per_user": 1,
                "max_queued_sessions_per_user": 2,
            }
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
            yield http


async def sessions_of(engine: AsyncEngine, status: SessionStatus | None = None) -> int:
    query = select(func.count()).select_from(TrainingHistory)
    if status is not None:
        query = query.where(TrainingHistory.status == status)
    async with session_factory(engine)() as db:
        return int(await db.scalar(query) or 0)


async def test_a_user_may_have_only_so_many_sessions_waiting(
    slow_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    await graphql_data(slow_client, START, account=alice)

    # The first runs once the worker claims it (until then it counts as waiting); the
    # others wait behind it.
    async def first_runs() -> bool:
        return await sessions_of(engine, SessionStatus.RUNNING) == 1

    await eventually(first_runs)
    for _ in range(2):
        await graphql_data(slow_client, START, account=alice)
    assert await sessions_of(engine, SessionStatus.QUEUED) == 2

    refused = await graphql(slow_client, START, account=alice)
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    assert "CHORUS_MAX_QUEUED_SESSIONS_PER_USER = 2" in refused["errors"][0]["message"]
    assert await sessions_of(engine) == 3
    auto = await slow_client.post("/auto-train", json={"num_examples": 1}, headers=alice.headers)
    assert auto.status_code == 400
    assert auto.json()["error"] == "BAD_USER_INPUT"
    assert await sessions_of(engine) == 3

    # Resuming a session puts it in the queue too.
    interrupted = await add_session(engine, alice.id, status=SessionStatus.INTERRUPTED)
    resumed = await graphql(slow_client, RESUME, {"id": interrupted.session_id}, account=alice)
    assert error_codes(resumed) == ["BAD_USER_INPUT"]
    assert await sessions_of(engine, SessionStatus.INTERRUPTED) == 1

    # The bound is each user's own.
    await graphql_data(slow_client, START, account=bob)

    async def both_run() -> bool:
        return await sessions_of(engine, SessionStatus.RUNNING) == 2

    await eventually(both_run)


async def test_a_teachers_answer_is_kept_up_to_the_limit_and_marked_as_cut(
    engine: AsyncEngine,
) -> None:
    alice = await make_account(engine, "alice")
    with FakeProvider() as fake:
        configs = [
            TeacherConfig(name, "openai", f"{name}-x", fake.base_url("openai"), "KEY")
            for name in ("flood", "plain")
        ]
        built = build_ensemble(configs, env={"KEY": "secret"})
        # Ten megabytes of one word pair, looping: cut, then set aside as repetitive.
        fake.faults.plan("flood-x", *[reply("ha " * 3_500_000)] * 2)
        plan = make_plan(built, num_examples=2, voting=VotingStrategy.QUALITY, seed=5)
        try:
            history = await train(
                session_factory(engine),
                alice.id,
                plan,
                {teacher.name: teacher for teacher in built},
                lambda _: CollectingSink(),
                options=RunnerOptions(2, max_output_chars=5000),
            )
        finally:
            for teacher in built:
                await teacher.aclose()
    async with session_factory(engine)() as db:
        outputs = (await db.scalars(select(TeacherOutput))).all()
    assert history.status is SessionStatus.COMPLETED
    flood = [output for output in outputs if output.model == "flood"]
    plain = [output for output in outputs if output.model == "plain"]
    assert len(flood) == len(plain) == 2
    for output in flood:
        assert output.truncated
        assert output.text is not None
        assert len(output.text) == 5000
        assert output.error == 'invalid: repetitive: "ha ha" covers 100% of the text (limit 20%)'
    assert not any(output.truncated for output in plain)
