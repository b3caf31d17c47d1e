"""Leases in the database and in the trainer, on each backend: claims that respect a user's
queue and limit, the fence that refuses a write of a session its writer no longer holds, a
runner that stops at once when its lease is lost, and the sessions a worker will not run."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models.base import utcnow
from models.engine import session_factory
from models.enums import SessionStatus
from models.errors import LeaseLost
from models.events import last_seq
from models.history import session_by_id
from models.leases import (
    claim_expired,
    claim_queued,
    expired_sessions,
    queue_heads,
    release,
    renew,
    request_cancel,
    requeue_interrupted,
)
from models.tables import EventRow, TrainingExample, TrainingHistory
from models.users import user_by_name
from server.app import create_app
from server.settings import Settings
from tests.integration.test_session import Watcher, offline_teachers, session_row_locked
from tests.support import eventually, make_account
from tests.support.live import InProcessServer, free_port, graphql_async
from tests.support.records import assert_record_agrees
from tests.support.workers import every_session_ended
from trainer.eventlog import EventLogWriter
from trainer.events import (
    Emitter,
    ExampleScored,
    NumberedEvent,
    SessionFinished,
    SessionStarted,
)
from trainer.leases import Lease, LeaseKeeper
from trainer.manager import SessionManager
from trainer.plan import SessionPlan, make_plan
from trainer.recorder import create_leased_session, create_session
from trainer.saq_queue import SaqQueue
from trainer.session import RunnerOptions, SessionRunner


async def queued(db: async_sessionmaker[AsyncSession], user_id: int, count: int) -> list[int]:
    plan = make_plan(list(offline_teachers().values()), num_examples=4, seed=1)
    ids = []
    async with db() as transaction:
        for _ in range(count):
            history = await create_session(transaction, user_id, plan)
            ids.append(history.id)
        await transaction.commit()
    return ids


async def running(
    db: async_sessionmaker[AsyncSession],
    user_id: int,
    plan: SessionPlan,
    owner: str,
    lease_s: float,
) -> TrainingHistory:
    """A RUNNING session under `owner`'s lease for `lease_s` more seconds (less than none: run
    out that long ago)."""
    async with db() as transaction:
        history = await create_leased_session(transaction, user_id, plan, owner, lease_s)
        await transaction.commit()
    return history


async def status_of(db: async_sessionmaker[AsyncSession], history_id: int) -> TrainingHistory:
    async with db() as transaction:
        history = await transaction.get(TrainingHistory, history_id)
        assert history is not None
        return history


async def test_claims_follow_each_users_queue_and_limit(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    first, second, third = await queued(db, alice.id, 3)
    async with db() as transaction:
        assert await queue_heads(transaction, max_running=2) == [
            (await transaction.get(TrainingHistory, first)).session_id  # type: ignore[union-attr]
        ]
        # Not the head of alice's queue: the oldest QUEUED session goes first.
        assert not await claim_queued(transaction, second, "w1", 15, max_running=2)
        assert await claim_queued(transaction, first, "w1", 15, max_running=2)
        assert not await claim_queued(transaction, first, "w2", 15, max_running=2)
        assert await claim_queued(transaction, second, "w2", 15, max_running=2)
        # Two running: the limit holds whichever worker asks.
        assert not await claim_queued(transaction, third, "w1", 15, max_running=2)
        assert await queue_heads(transaction, max_running=2) == []
    claimed = await status_of(db, first)
    assert (claimed.status, claimed.lease_owner) == (SessionStatus.RUNNING, "w1")

    async with db() as transaction:
        # Renewing keeps only what the worker still holds.
        assert await renew(transaction, "w1", [first, second], 15) == {first}
        # A lease that is live cannot be taken over.
        assert await claim_expired(transaction, first, "w2", 15) is None
        assert await release(transaction, first, "w1") is SessionStatus.QUEUED
        assert await release(transaction, first, "w1") is None
    handed = await status_of(db, first)
    assert (handed.status, handed.lease_owner, handed.lease_until) == (
        SessionStatus.QUEUED,
        None,
        None,
    )


async def test_a_lease_that_ran_out_is_taken_over_once(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    (history_id,) = await queued(db, alice.id, 1)
    async with db() as transaction:
        assert await claim_queued(transaction, history_id, "w1", 15, max_running=1)
        await transaction.execute(
            update(TrainingHistory).values(lease_until=utcnow() - timedelta(seconds=1))
        )
        await transaction.commit()
        session_id = (await status_of(db, history_id)).session_id
        assert await expired_sessions(transaction) == [session_id]
        assert await claim_expired(transaction, history_id, "w2", 15) == 1
        assert await claim_expired(transaction, history_id, "w3", 15) is None
        assert await expired_sessions(transaction) == []
        # The first owner's renewal finds it lost.
        assert await renew(transaction, "w1", [history_id], 15) == set()
    taken = await status_of(db, history_id)
    assert (taken.lease_owner, taken.takeovers) == ("w2", 1)


async def test_cancelling_ends_a_queued_session_and_asks_a_running_one(
    engine: AsyncEngine,
) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    waiting, running = await queued(db, alice.id, 2)
    async with db() as transaction:
        assert await claim_queued(transaction, waiting, "w1", 15, max_running=2)
        assert await request_cancel(transaction, running) is SessionStatus.QUEUED
        assert await request_cancel(transaction, waiting) is SessionStatus.RUNNING
    assert (await status_of(db, running)).status is SessionStatus.CANCELLED
    asked = await status_of(db, waiting)
    assert (asked.status, asked.cancel_requested) == (SessionStatus.RUNNING, True)
    async with db() as transaction:
        assert not await requeue_interrupted(transaction, waiting)


async def test_a_session_asked_to_stop_ends_cancelled_when_handed_back(
    engine: AsyncEngine,
) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    (history_id,) = await queued(db, alice.id, 1)
    async with db() as transaction:
        assert await claim_queued(transaction, history_id, "w1", 15, max_running=1)
        assert await request_cancel(transaction, history_id) is SessionStatus.RUNNING
        # No worker would claim it again but to stop it.
        assert await release(transaction, history_id, "w1") is SessionStatus.CANCELLED
        assert await release(transaction, history_id, "w1") is None
    ended = await status_of(db, history_id)
    assert (ended.status, ended.error, ended.end_reason) == (SessionStatus.CANCELLED, None, None)
    assert ended.completed_at is not None


async def test_a_cancel_the_worker_had_not_seen_ends_the_session_it_hands_back(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    app = create_app(settings.model_copy(update={"offline_latency_ms": 20}))
    async with InProcessServer(app) as server:
        started = await graphql_async(
            server,
            "mutation { startTraining(input: {numExamples: 1000, seed: 3}) { sessionId } }",
            token=alice.token,
        )
        session_id = started["data"]["startTraining"]["sessionId"]
        async with db() as transaction:
            history = await session_by_id(transaction, session_id)
            assert history is not None
        history_id = history.id

        async def some_examples_stored() -> bool:
            return (await status_of(db, history_id)).num_examples_successful >= 3

        await eventually(some_examples_stored)
        # Another API process asks; the server stops before its worker has seen it.
        async with db() as transaction:
            assert await request_cancel(transaction, history_id) is SessionStatus.RUNNING
    ended = await status_of(db, history_id)
    assert ended.status is SessionStatus.CANCELLED
    assert 3 <= ended.num_examples_successful < 1000
    await assert_record_agrees(engine, history_id)
    async with db() as transaction:
        last = await transaction.scalar(
            select(EventRow)
            .where(EventRow.history_id == history_id)
            .order_by(EventRow.seq.desc())
            .limit(1)
        )
    assert last is not None
    assert (last.type, last.payload["status"]) == (SessionFinished.__name__, "CANCELLED")


async def _taken_over(db: async_sessionmaker[AsyncSession], history_id: int, owner: str) -> None:
    """What another worker does to a session whose lease it found run out: as if its owner
    had stopped renewing it a moment ago. One transaction: a renewal by the owner's keeper
    between the two would find the lease still its own, and extend it."""
    async with db() as transaction:
        await transaction.execute(
            update(TrainingHistory)
            .where(TrainingHistory.id == history_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        assert await claim_expired(transaction, history_id, owner, 15) is not None


async def test_a_write_of_a_session_its_writer_no_longer_holds_is_refused(
    engine: AsyncEngine,
) -> None:
    runner, sink, history_id, _ = await _leased_runner(engine, examples=4, owner="w1")
    db = session_factory(engine)
    await _taken_over(db, history_id, "w2")
    # The runner of w1 stops at its first write, and writes nothing.
    try:
        await runner.run()
        raise AssertionError("the runner went on without its lease")
    except LeaseLost:
        pass
    async with db() as transaction:
        examples = await transaction.scalar(
            select(func.count()).where(TrainingExample.history_id == history_id)
        )
        events = await transaction.scalar(
            select(func.count()).where(EventRow.history_id == history_id)
        )
    assert (examples, events) == (0, 0)
    assert (await status_of(db, history_id)).status is SessionStatus.RUNNING
    assert sink.indexes(ExampleScored) == []


async def test_the_event_log_is_written_while_the_recorder_holds_the_sessions_row(
    engine: AsyncEngine,
) -> None:
    """The recorder holds the session's row through each of its transactions. The log's
    writer fences on a row of its own, so on MariaDB events reach the log, and subscribers,
    meanwhile; SQLite has one writer at a time, and there they wait their turn."""
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    plan = make_plan(list(offline_teachers().values()), num_examples=2, seed=1)
    history = await running(db, alice.id, plan, "w1", 15)
    lease = Lease(history.id, "w1", 15, claimed_at=time.monotonic())
    writer = EventLogWriter(db, history.id, lease=lease)
    started = SessionStarted(2, plan.teachers, plan.voting)
    try:
        async with session_row_locked(engine, history.id):
            await writer.emit(NumberedEvent(history.session_id, 1, utcnow(), started))
            written = asyncio.shield(writer.flush())
            if engine.dialect.name == "sqlite":
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(written, 0.5)
            else:
                await asyncio.wait_for(written, 5)
                async with db() as transaction:
                    assert await last_seq(transaction, history.id) == 1
        await writer.flush()
    finally:
        await writer.aclose()
    async with db() as transaction:
        assert await last_seq(transaction, history.id) == 1


# Long enough that a busy machine renews it in time, until it is taken.
LOST_LEASE_S = 2.0


async def test_a_runner_that_loses_its_lease_stops_at_once(engine: AsyncEngine) -> None:
    runner, sink, history_id, lease = await _leased_runner(
        engine, examples=200, owner="w1", latency_ms=20, lease_s=LOST_LEASE_S
    )
    db = session_factory(engine)
    keeper = LeaseKeeper(db, "w1", LOST_LEASE_S)
    keeper.hold(lease)
    keeper.start()
    task = asyncio.create_task(runner.run())
    try:
        await sink.seen(ExampleScored, 3)
        # Another worker takes it over: w1's next renewal finds it gone.
        await _taken_over(db, history_id, "w2")
        lost_at = asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(task, 5)
            raise AssertionError("the runner went on without its lease")
        except LeaseLost:
            pass
        # Found at the next renewal, a third of a lease on.
        assert asyncio.get_running_loop().time() - lost_at < LOST_LEASE_S / 3 + 1
    finally:
        await keeper.aclose()
    async with db() as transaction:
        kept = await transaction.scalar(
            select(func.count()).where(TrainingExample.history_id == history_id)
        )
        seq = await last_seq(transaction, history_id)
    await asyncio.sleep(0.5)
    async with db() as transaction:
        assert kept == await transaction.scalar(
            select(func.count()).where(TrainingExample.history_id == history_id)
        )
        assert seq == await last_seq(transaction, history_id)
    assert 3 <= (kept or 0) < 200
    # Nothing ended it: the new owner does.
    assert (await status_of(db, history_id)).status is SessionStatus.RUNNING
    assert not any(isinstance(event.event, SessionFinished) for event in sink.events)


async def test_a_session_its_runner_is_ending_is_not_lost_to_a_renewal(
    engine: AsyncEngine,
) -> None:
    """A renewal that comes between a session's final status and its SessionFinished finds
    it no longer RUNNING: that is its own runner's doing, not another worker's, and the
    runner goes on to write SessionFinished."""
    runner, sink, history_id, lease = await _leased_runner(engine, examples=2, owner="w1")
    await runner.run()
    assert lease.finishing
    assert not lease.lost
    assert isinstance(sink.events[-1].event, SessionFinished)
    db = session_factory(engine)
    keeper = LeaseKeeper(db, "w1", 15.0)
    keeper.hold(lease)
    await keeper.renew()
    assert not lease.lost
    # A lease whose runner is not ending it is lost when its session is no longer RUNNING.
    other = Lease(history_id, "w1", 15.0, claimed_at=time.monotonic())
    keeper.let_go(lease)
    keeper.hold(other)
    await keeper.renew()
    assert other.lost


async def _leased_runner(
    engine: AsyncEngine,
    *,
    examples: int,
    owner: str,
    latency_ms: int = 0,
    lease_s: float = 15.0,
) -> tuple[SessionRunner, Watcher, int, Lease]:
    alice = await make_account(engine, "alice")
    teachers = offline_teachers(latency_ms)
    plan = make_plan(list(teachers.values()), num_examples=examples, seed=3)
    db = session_factory(engine)
    claimed_at = time.monotonic()
    history = await running(db, alice.id, plan, owner, lease_s)
    lease = Lease(history.id, owner, lease_s, claimed_at=claimed_at)
    sink = Watcher()
    writer = EventLogWriter(db, history.id, lease=lease)

    class Both:
        async def emit(self, event: NumberedEvent) -> None:
            await writer.emit(event)
            await sink.emit(event)

    runner = SessionRunner(
        db,
        history.id,
        teachers,
        Emitter(history.session_id, Both()),
        options=RunnerOptions(2),
        lease=lease,
    )
    return runner, sink, history.id, lease


async def test_a_session_past_its_takeovers_ends_interrupted_and_resumes(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    plan = make_plan(list(offline_teachers().values()), num_examples=6, seed=4)
    # Its workers kept dying: three takeovers already, and its lease has run out again.
    history = await running(db, alice.id, plan, "a-worker-that-died", -1)
    async with db() as transaction:
        await transaction.execute(
            update(TrainingHistory).where(TrainingHistory.id == history.id).values(takeovers=3)
        )
        await transaction.commit()
    app = create_app(settings.model_copy(update={"max_takeovers": 3}))
    async with InProcessServer(app) as server:
        await every_session_ended(engine)
        interrupted = await status_of(db, history.id)
        assert interrupted.status is SessionStatus.INTERRUPTED
        assert interrupted.error is not None
        assert "resumeTraining" in interrupted.error

        async def stream_closed() -> bool:
            # Its status is written first, then its SessionFinished goes to the log.
            async with db() as transaction:
                return await last_seq(transaction, history.id) == 1

        await eventually(stream_closed)

        resumed = await graphql_async(
            server,
            "mutation($id: String!) { resumeTraining(sessionId: $id) { status } }",
            {"id": history.session_id},
            token=alice.token,
        )
        assert resumed["data"]["resumeTraining"]["status"] in ("QUEUED", "RUNNING")
        await every_session_ended(engine)
    done = await status_of(db, history.id)
    assert (done.status, done.takeovers, done.error) == (SessionStatus.COMPLETED, 0, None)
    await assert_record_agrees(engine, history.id)
    async with db() as transaction:
        kinds = list(
            await transaction.scalars(
                select(EventRow.type)
                .where(EventRow.history_id == history.id)
                .order_by(EventRow.seq)
            )
        )
    assert kinds[:2] == [SessionFinished.__name__, SessionStarted.__name__]
    assert kinds[-1] == SessionFinished.__name__


async def test_a_session_whose_teachers_are_gone_ends_interrupted(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    plan = make_plan(list(offline_teachers().values()), num_examples=2, seed=4)
    async with db() as transaction:
        history = await create_session(transaction, alice.id, plan)
        history.teachers_json = '["a-teacher-no-longer-configured"]'
        await transaction.commit()
    app = create_app(settings)
    async with InProcessServer(app):
        await every_session_ended(engine)
    ended = await status_of(db, history.id)
    assert ended.status is SessionStatus.INTERRUPTED
    assert ended.error is not None
    assert "a-teacher-no-longer-configured" in ended.error


async def test_a_session_is_recorded_when_the_queue_is_out_of_reach(engine: AsyncEngine) -> None:
    """The scans of the workers find it once they can; startTraining does not fail."""
    alice = await make_account(engine, "alice")
    queue = SaqQueue(f"redis://127.0.0.1:{free_port()}/0", "nowhere", lease_s=15, shutdown_s=1)
    await queue.connect()
    teachers = list(offline_teachers().values())
    manager = SessionManager(session_factory(engine), teachers, queue)
    try:
        async with session_factory(engine)() as db:
            user = await user_by_name(db, "alice")
        started = await manager.start(user, make_plan(teachers, num_examples=2, seed=1))
    finally:
        await queue.aclose()
    assert started.status is SessionStatus.QUEUED
    async with session_factory(engine)() as db:
        assert await queue_heads(db, max_running=2) == [started.session_id]
    assert alice.id == started.user_id
