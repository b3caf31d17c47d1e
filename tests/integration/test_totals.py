"""Each user's totals equal the sums over their sessions, whichever writer wrote them, and
the statistics read from them are those the sums over every session gave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models import history, totals
from models.base import Base
from models.engine import create_engine, session_factory
from models.enums import SessionStatus, VotingStrategy
from models.sessions import set_status
from models.tables import TrainingHistory, User
from server.app import create_app
from server.settings import Settings
from tests.integration.test_recording import RECORD, session_input
from tests.integration.test_rest import payload
from tests.integration.test_session import offline_teachers
from tests.support import Account, eventually, graphql_data, make_account
from tests.support.factories import T0, add_session
from tests.support.workers import every_session_ended
from trainer.plan import MAX_EXAMPLES, make_plan
from trainer.recorder import create_session
from trainer.training import train

# The sums as the statistics computed them before there were totals, over every session.
SUMS_OVER_SESSIONS = """
SELECT user_id, COUNT(*), SUM(num_examples_successful), SUM(stories_saved_count),
       COALESCE(SUM(average_quality), 0), COUNT(average_quality),
       COALESCE(SUM(total_time_seconds), 0),
       SUM(CASE WHEN fine_tuning_triggered THEN 1 ELSE 0 END), SUM(fine_tuning_examples),
       COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
       COALESCE(SUM(cost_usd), 0), COUNT(cost_usd)
FROM training_history GROUP BY user_id ORDER BY user_id
"""
USER_TOTALS = """
SELECT user_id, sessions, examples_generated, stories_saved, quality_sum, scored_sessions,
       training_time_seconds, fine_tuning_sessions, fine_tuning_examples,
       prompt_tokens, completion_tokens, cost_usd, costed_sessions
FROM user_training_totals ORDER BY user_id
"""
SUMS_OVER_MODEL_ROWS = """
SELECT h.user_id, s.model, SUM(s.wins), SUM(s.total_quality), COUNT(DISTINCT s.history_id)
FROM session_model_stats s JOIN training_history h ON h.id = s.history_id
GROUP BY h.user_id, s.model ORDER BY h.user_id, s.model
"""
MODEL_TOTALS = """
SELECT user_id, model, wins, total_quality, sessions
FROM user_model_totals ORDER BY user_id, model
"""
STATS_OVER_SESSIONS = """
SELECT COUNT(*), COALESCE(SUM(num_examples_successful), 0),
       COALESCE(SUM(stories_saved_count), 0), AVG(average_quality),
       COALESCE(SUM(total_time_seconds), 0),
       COALESCE(SUM(CASE WHEN fine_tuning_triggered THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(fine_tuning_examples), 0)
FROM training_history WHERE user_id = :user
"""
LEADERBOARD_OVER_MODEL_ROWS = """
SELECT s.model, SUM(s.wins) AS wins, SUM(s.total_quality), COUNT(DISTINCT s.history_id)
FROM session_model_stats s JOIN training_history h ON h.id = s.history_id
WHERE h.user_id = :user GROUP BY s.model ORDER BY wins DESC, s.model
"""


def _comparable(row: Any) -> tuple[Any, ...]:
    # Float sums depend on the order they are added in; MariaDB sums integers to DECIMAL.
    return tuple(
        pytest.approx(float(value), rel=1e-9, abs=1e-9)
        if isinstance(value, float | Decimal)
        else value
        for value in row
    )


async def _rows(db: AsyncSession, sql: str) -> list[tuple[Any, ...]]:
    return [_comparable(row) for row in await db.execute(text(sql))]


async def assert_totals_match_sessions(db: AsyncSession) -> None:
    assert await _rows(db, USER_TOTALS) == await _rows(db, SUMS_OVER_SESSIONS)
    assert await _rows(db, MODEL_TOTALS) == await _rows(db, SUMS_OVER_MODEL_ROWS)


async def assert_statistics_as_summed(db: AsyncSession, user_id: int) -> None:
    """trainingStats and modelLeaderboard as the sums over every session gave them."""
    summed = (await db.execute(text(STATS_OVER_SESSIONS), {"user": user_id})).one()
    stats = await history.training_stats(db, user_id)
    assert (
        stats.total_sessions,
        stats.total_examples_generated,
        stats.total_stories_saved,
        stats.total_training_time_seconds,
        stats.fine_tuning_sessions_count,
        stats.fine_tuning_examples,
    ) == tuple(int(summed[i]) for i in (0, 1, 2, 4, 5, 6))
    average = None if summed[3] is None else float(summed[3])
    if average is None or db.get_bind().dialect.name != "sqlite":
        assert stats.average_quality == (None if average is None else round(average, 2))
    else:
        # SQLite sums floats, whose last bit depends on the order they were added in.
        assert stats.average_quality == pytest.approx(average, abs=0.005 + 1e-9)
    expected = [
        history.LeaderboardEntry(
            model=model,
            wins=int(wins),
            average_quality=history.mean_quality(float(quality), int(wins)),
            sessions=int(sessions),
        )
        for model, wins, quality, sessions in await db.execute(
            text(LEADERBOARD_OVER_MODEL_ROWS), {"user": user_id}
        )
    ]
    assert await history.model_leaderboard(db, user_id) == expected


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A server over real ASGI; leaving it shuts it down, handing back its sessions."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
            yield app, http


START = "mutation($n: Int!) { startTraining(input: {numExamples: $n, seed: 5}) { sessionId } }"
CANCEL = "mutation($id: String!) { cancelTraining(sessionId: $id) { status } }"
RESUME = "mutation($id: String!) { resumeTraining(sessionId: $id) { status } }"


async def _start(http: httpx.AsyncClient, account: Account, examples: int) -> str:
    data = await graphql_data(http, START, {"n": examples}, account=account)
    session_id: str = data["startTraining"]["sessionId"]
    return session_id


async def _some_examples_stored(engine: AsyncEngine, session_id: str) -> bool:
    async with session_factory(engine)() as db:
        stored = await history.session_by_id(db, session_id)
        assert stored is not None
        return stored.num_examples_successful + stored.num_examples_failed >= 3


async def _interrupted(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with session_factory(engine)() as db:
        rows = await db.execute(
            select(TrainingHistory.session_id, TrainingHistory.user_id).where(
                TrainingHistory.status == SessionStatus.INTERRUPTED
            )
        )
        return [(session_id, user_id) for session_id, user_id in rows]


async def test_totals_follow_every_writer(engine: AsyncEngine, settings: Settings) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    carol = await make_account(engine, "carol")
    await add_session(engine, alice.id, average_quality=7.5, fine_tuning_examples=12)
    teachers = offline_teachers()
    sessions = session_factory(engine)
    # Left RUNNING by a worker that stopped, its lease run out: a worker takes it over.
    async with sessions() as db:
        orphan = await create_session(
            db,
            bob.id,
            make_plan(list(teachers.values()), num_examples=4, seed=2),
            status=SessionStatus.RUNNING,
            lease_owner="a-worker-that-stopped",
            lease_until=T0,
        )
        await db.commit()

    # Slow enough that the long session (60 examples, 2 in flight: 12 s at the least) is still
    # running when the server stops, however slowly a busy machine answers the writes below.
    slow = settings.model_copy(update={"offline_latency_ms": 200, "max_concurrent_examples": 2})
    async with serving(slow) as (_, http):
        long_one = await _start(http, alice, 60)
        await _start(http, alice, 2)
        # Queued behind the two running, or just started: cancelled either way. As long as a
        # session can be, so that no stall of a busy machine lets it end before the cancel.
        cancelled = await _start(http, alice, MAX_EXAMPLES)
        await graphql_data(http, CANCEL, {"id": cancelled}, account=alice)
        await graphql_data(
            http, RECORD, {"input": session_input(sessionId="graphql-1")}, account=alice
        )
        response = await http.post(
            "/api/training-history",
            json=payload(
                bob.id,
                sessionId="rest-1",
                averageQuality=7.45,
                totalTimeSeconds=61,
                modelPerformanceJson='{"offline-1": {"count": 2, "avg_quality": 7.45}}',
            ),
            headers=bob.headers,
        )
        assert response.status_code == 201, response.text
        # Stopping the server now hands the long session back half done...
        await eventually(lambda: _some_examples_stored(engine, long_one))
    async with sessions() as db:
        handed_back = await history.session_by_id(db, long_one)
        assert handed_back is not None
        assert handed_back.status is SessionStatus.QUEUED
        # ...and it ends INTERRUPTED, as a worker stopped with --no-takeover leaves it.
        await set_status(db, handed_back.id, SessionStatus.INTERRUPTED)
    interrupted = await _interrupted(engine)
    assert long_one in {session_id for session_id, _ in interrupted}

    async with serving(settings) as (_, http):
        for session_id, user_id in interrupted:
            owner = alice if user_id == alice.id else bob
            await graphql_data(http, RESUME, {"id": session_id}, account=owner)
        await every_session_ended(engine)
    # The command line's path: trained in this process, without the manager.
    plan = make_plan(list(teachers.values()), num_examples=5, seed=9, save_to_database=True)
    await train(sessions, bob.id, plan, teachers)

    async with sessions() as db:
        taken_over = await db.get(TrainingHistory, orphan.id)
        assert taken_over is not None
        assert (taken_over.status, taken_over.takeovers) == (SessionStatus.COMPLETED, 1)
        statuses = set(await db.scalars(select(TrainingHistory.status)))
        assert {SessionStatus.COMPLETED, SessionStatus.CANCELLED} <= statuses
        await assert_totals_match_sessions(db)
        for account in (alice, bob, carol):
            await assert_statistics_as_summed(db, account.id)


async def test_concurrent_sessions_of_one_user_add_up(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    teachers = offline_teachers()
    sessions = session_factory(engine)
    plans = [make_plan(list(teachers.values()), num_examples=12, seed=seed) for seed in range(4)]
    # Some sessions are created while others of the user are being recorded: on MariaDB that
    # deadlocked, now and then, until a session's creation took the user's row first.
    await asyncio.gather(*(train(sessions, alice.id, plan, teachers) for plan in plans))
    async with sessions() as db:
        await assert_totals_match_sessions(db)
        await assert_statistics_as_summed(db, alice.id)
        stats = await history.training_stats(db, alice.id)
    assert stats.total_sessions == 4
    assert stats.total_examples_generated > 0


async def test_finishing_a_session_waits_for_its_recorder(engine: AsyncEngine) -> None:
    """A session ended (by a server recovering it, say) while a batch of it is being
    recorded: both commit, neither is chosen as a deadlock's victim."""
    alice = await make_account(engine, "alice")
    sessions = session_factory(engine)
    plan = make_plan(list(offline_teachers().values()), num_examples=2, seed=1)
    async with sessions() as db:
        stored = await create_session(db, alice.id, plan, status=SessionStatus.RUNNING)
        await db.commit()
    user_locked = asyncio.Event()

    async def record() -> None:
        # The recorder's order: the user's row, then the session's.
        async with sessions() as db:
            await db.execute(select(User.id).where(User.id == alice.id).with_for_update())
            user_locked.set()
            await asyncio.sleep(0.3)  # while the session is being ended
            before = await totals.locked_session(db, stored.id)
            await totals.update_session(db, before, {"num_examples_successful": 1})
            await db.commit()

    async def end() -> None:
        await user_locked.wait()
        async with sessions() as db:
            await set_status(db, stored.id, SessionStatus.INTERRUPTED)

    await asyncio.gather(record(), end())
    async with sessions() as db:
        ended = await db.get(TrainingHistory, stored.id)
        assert ended is not None
        assert (ended.status, ended.num_examples_successful) == (SessionStatus.INTERRUPTED, 1)
        await assert_totals_match_sessions(db)


summed_columns = st.fixed_dictionaries(
    {
        "num_examples_successful": st.integers(0, 30),
        "stories_saved_count": st.integers(0, 30),
        "average_quality": st.none() | st.integers(0, 100).map(lambda tenths: tenths / 10),
        "total_time_seconds": st.none() | st.integers(0, 5000),
        "fine_tuning_triggered": st.booleans(),
        "fine_tuning_examples": st.integers(0, 30),
    }
)
model_scores = st.dictionaries(
    st.sampled_from(["alpha", "beta", "gamma"]),
    st.builds(
        totals.ModelScore,
        wins=st.integers(0, 9),
        total_quality=st.integers(0, 900).map(lambda hundredths: hundredths / 100),
    ),
)
# Per session: its owner, what it starts with, then each later write of its summary and
# its model rows.
session_histories = st.lists(
    st.tuples(
        st.integers(0, 1),
        summed_columns,
        model_scores,
        st.lists(st.tuples(summed_columns, model_scores), max_size=3),
    ),
    max_size=5,
)


async def _write_and_compare(url: str, stories: list[Any]) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            for table in reversed(Base.metadata.sorted_tables):
                await db.execute(delete(table))
            users = [User(name="first"), User(name="second")]
            db.add_all(users)
            await db.flush()
            for number, (owner, columns, scores, writes) in enumerate(stories):
                stored = TrainingHistory(
                    user_id=users[owner].id,
                    session_id=f"s{number}",
                    num_examples_requested=30,
                    started_at=T0,
                    status=SessionStatus.RUNNING,
                    voting_strategy=VotingStrategy.JURY,
                    **columns,
                )
                db.add(stored)
                await db.flush()
                await totals.add_session(db, stored, scores)
                await db.commit()
                for values, new_scores in writes:
                    before = await totals.locked_session(db, stored.id)
                    await totals.update_session(db, before, values)
                    await totals.update_scores(db, before, new_scores)
                    await db.commit()
            await assert_totals_match_sessions(db)
    finally:
        await engine.dispose()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stories=session_histories)
def test_any_sequence_of_writes_keeps_the_totals(database_url: str, stories: list[Any]) -> None:
    asyncio.run(_write_and_compare(database_url, stories))
