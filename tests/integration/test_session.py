"""Sessions run end to end with real teachers (offline, and over HTTP against the fake
provider server), and the stored record agrees with itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.enums import (
    EndReason,
    FineTuneStatus,
    Genre,
    SessionStatus,
    VotingStrategy,
)
from models.tables import (
    FineTuneJob,
    TeacherOutput,
    TrainingExample,
    TrainingHistory,
)
from tests.support import eventually, make_account
from tests.support.factories import add_session
from tests.support.fake_provider import FakeProvider, hang, server_error
from tests.support.records import assert_record_agrees
from trainer.events import (
    CollectingSink,
    Emitter,
    ExampleFailed,
    ExampleScored,
    ExampleStarted,
    FineTuningTriggered,
    NumberedEvent,
    SessionEvent,
    SessionFinished,
    SessionProgress,
    SessionStarted,
    TeacherResponded,
    VoteCast,
)
from trainer.plan import make_plan
from trainer.recorder import create_session
from trainer.session import STORE_REFUSED, RunnerOptions, SessionRunner
from trainer.teachers.base import Teacher, TeacherConfig
from trainer.teachers.ensemble import build_ensemble
from trainer.teachers.offline import offline_ensemble
from trainer.teachers.retry import RetryPolicy
from trainer.training import train


def offline_teachers(latency_ms: int = 0) -> dict[str, Teacher]:
    teachers = build_ensemble(offline_ensemble(), env={}, offline_latency_ms=latency_ms)
    return {teacher.name: teacher for teacher in teachers}


def index_of(event: SessionEvent) -> int:
    """The example an event is about; -1 for the session's own events."""
    index: int = getattr(event, "index", -1)
    return index


async def test_an_offline_session_of_fifty_examples(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    # Earlier sessions collected 40 examples, so this one crosses 50 and triggers fine-tuning.
    await add_session(engine, alice.id, fine_tuning_examples=40)
    teachers = offline_teachers()
    plan = make_plan(
        list(teachers.values()),
        num_examples=50,
        genres=[Genre.FANTASY, Genre.HORROR],
        save_to_database=True,
        store_in_memory=True,
        seed=7,
    )
    sink = CollectingSink()
    sessions = session_factory(engine)
    history = await train(
        sessions, alice.id, plan, teachers, lambda _: sink, options=RunnerOptions(8)
    )

    assert history.status is SessionStatus.COMPLETED
    assert history.num_examples_requested == 50
    assert history.num_examples_successful + history.num_examples_failed == 50
    assert history.num_examples_successful > 40
    assert history.training_examples_before == 40
    assert history.fine_tuning_triggered is True
    assert history.completed_at is not None
    await assert_record_agrees(engine, history.id)

    async with sessions() as db:
        jobs = (await db.scalars(select(FineTuneJob))).all()
    assert len(jobs) == 1
    assert jobs[0].triggered_by_session_id == history.session_id
    assert jobs[0].status is FineTuneStatus.QUEUED
    # Its dataset is what this user has stored of the 50 collected: the earlier 40 came from
    # a session with no examples stored, so this session's own, up to the trigger.
    async with sessions() as db:
        stored_then = await db.scalar(
            select(func.count()).where(
                TrainingExample.history_id == history.id,
                TrainingExample.final_quality >= 7.0,
                TrainingExample.created_at <= jobs[0].created_at,
            )
        )
    assert 10 <= jobs[0].num_examples == stored_then
    # Its cutoff is the last example stored with it: none stored up to then is past it.
    async with sessions() as db:
        past_cutoff = await db.scalar(
            select(func.count()).where(
                TrainingExample.id > jobs[0].last_example_id,
                TrainingExample.created_at <= jobs[0].created_at,
            )
        )
    assert jobs[0].last_example_id is not None
    assert past_cutoff == 0

    events = sink.events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0].event, SessionStarted)
    assert isinstance(events[-1].event, SessionFinished)
    assert events[-1].event == SessionFinished(
        status=SessionStatus.COMPLETED, end_reason=EndReason.ALL_EXAMPLES_RUN
    )
    kinds = Counter(type(e.event) for e in events)
    assert kinds[ExampleStarted] == 50
    assert kinds[TeacherResponded] == 50 * 7
    assert kinds[ExampleScored] + kinds[ExampleFailed] == 50
    assert kinds[SessionProgress] == 50
    assert kinds[FineTuningTriggered] == 1
    assert kinds[VoteCast] > 0
    genres = {e.event.genre for e in events if isinstance(e.event, ExampleStarted)}
    assert genres == {Genre.FANTASY, Genre.HORROR}
    # Every example's events stay between its start and its score.
    for index in range(50):
        mine = [e for e in events if index_of(e.event) == index]
        assert isinstance(mine[0].event, ExampleStarted)
        assert isinstance(mine[-1].event, ExampleScored | ExampleFailed)
    last_progress = [e.event for e in events if isinstance(e.event, SessionProgress)][-1]
    assert last_progress.eta_seconds == 0.0


async def test_the_same_seed_gives_the_same_session(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    teachers = offline_teachers()
    sessions = session_factory(engine)
    results = []
    for _ in range(2):
        plan = make_plan(list(teachers.values()), num_examples=6, seed=42)
        history = await train(sessions, alice.id, plan, teachers)
        async with sessions() as db:
            rows = (
                await db.execute(
                    select(TrainingExample.genre, TrainingExample.prompt, TrainingExample.winner)
                    .where(TrainingExample.history_id == history.id)
                    .order_by(TrainingExample.index)
                )
            ).all()
        results.append([tuple(row) for row in rows])
    assert results[0] == results[1]
    assert len({genre for genre, _, _ in results[0]}) == 6


class ProgressWatcher(CollectingSink):
    """Collects events and signals once `after` examples have finished."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.reached = asyncio.Event()

    async def emit(self, event: NumberedEvent) -> None:
        await super().emit(event)
        if sum(isinstance(e.event, SessionProgress) for e in self.events) >= self.after:
            self.reached.set()


async def test_cancelling_keeps_finished_examples(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    teachers = offline_teachers(latency_ms=40)
    sessions = session_factory(engine)
    plan = make_plan(list(teachers.values()), num_examples=200, seed=1)
    async with sessions() as db:
        history = await create_session(db, alice.id, plan)
        await db.commit()
    sink = ProgressWatcher(after=5)
    runner = SessionRunner(
        sessions, history.id, teachers, Emitter(history.session_id, sink), options=RunnerOptions(4)
    )
    task = asyncio.create_task(runner.run())
    await sink.reached.wait()
    runner.cancel()
    assert await task is SessionStatus.CANCELLED

    async with sessions() as db:
        stored = await db.get(TrainingHistory, history.id)
        count = await db.scalar(
            select(func.count()).where(TrainingExample.history_id == history.id)
        )
    assert stored is not None
    assert stored.status is SessionStatus.CANCELLED
    assert 5 <= (count or 0) < 200
    assert stored.num_examples_successful + stored.num_examples_failed == count
    assert isinstance(sink.events[-1].event, SessionFinished)
    assert sink.events[-1].event == SessionFinished(status=SessionStatus.CANCELLED)
    assert [e.seq for e in sink.events] == list(range(1, len(sink.events) + 1))
    await assert_record_agrees(engine, history.id)


class Watcher(CollectingSink):
    """Collects events and signals when one of a given type and example index arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._arrivals: dict[tuple[type[SessionEvent], int], asyncio.Event] = {}

    async def emit(self, event: NumberedEvent) -> None:
        await super().emit(event)
        self._arrival(type(event.event), index_of(event.event)).set()

    def _arrival(self, kind: type[SessionEvent], index: int) -> asyncio.Event:
        return self._arrivals.setdefault((kind, index), asyncio.Event())

    async def seen(self, kind: type[SessionEvent], index: int) -> None:
        await asyncio.wait_for(self._arrival(kind, index).wait(), 10)

    def indexes(self, *kinds: type[SessionEvent]) -> list[int]:
        return [index_of(e.event) for e in self.events if isinstance(e.event, kinds)]


@asynccontextmanager
async def session_row_locked(engine: AsyncEngine, history_id: int) -> AsyncIterator[None]:
    """The session's row held by another transaction, so the recorder's writes wait."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite has one writer
        else:
            await connection.begin()
            await connection.execute(
                select(TrainingHistory.id).where(TrainingHistory.id == history_id).with_for_update()
            )
        try:
            yield
        finally:
            await connection.rollback()


async def watched_runner(
    engine: AsyncEngine, *, examples: int, concurrency: int, latency_ms: int
) -> tuple[SessionRunner, Watcher, int]:
    """A new session of offline teachers, its runner (not started) and what it emits."""
    alice = await make_account(engine, "alice")
    teachers = offline_teachers(latency_ms)
    plan = make_plan(list(teachers.values()), num_examples=examples, seed=3)
    sessions = session_factory(engine)
    async with sessions() as db:
        history = await create_session(db, alice.id, plan)
        await db.commit()
    sink = Watcher()
    emitter = Emitter(history.session_id, sink)
    runner = SessionRunner(
        sessions, history.id, teachers, emitter, options=RunnerOptions(concurrency)
    )
    return runner, sink, history.id


@asynccontextmanager
async def two_examples_held_up(
    engine: AsyncEngine,
) -> AsyncIterator[tuple[SessionRunner, Watcher, int, asyncio.Task[SessionStatus]]]:
    """A running session of four examples, one at a time, with its writer held up by a
    lock on its row until the block ends, which begins once examples 0 and 1 have finished."""
    runner, sink, history_id = await watched_runner(
        engine, examples=4, concurrency=1, latency_ms=50
    )
    task = asyncio.create_task(runner.run())
    await sink.seen(ExampleStarted, 0)
    async with session_row_locked(engine, history_id):
        await sink.seen(ExampleStarted, 1)

        async def example_1_waits_for_room() -> bool:
            return runner.waiting_to_be_written == [1]

        await eventually(example_1_waits_for_room, timeout_s=10)
        yield runner, sink, history_id, task


async def test_examples_go_on_while_finished_ones_wait_to_be_written(
    engine: AsyncEngine,
) -> None:
    """A worker starts its next example once one finishes, not once it is written; and no
    more finished examples wait for the writer than there are examples in flight."""
    async with two_examples_held_up(engine) as (_, sink, history_id, task):
        # Example 1 finished too: with example 0 unwritten, nothing more starts.
        assert sink.indexes(ExampleStarted) == [0, 1]
        assert sink.indexes(ExampleScored, ExampleFailed) == []
    assert await task is SessionStatus.COMPLETED
    assert sink.indexes(ExampleStarted) == [0, 1, 2, 3]
    assert sorted(sink.indexes(ExampleScored, ExampleFailed)) == [0, 1, 2, 3]
    await assert_record_agrees(engine, history_id)


async def test_cancelling_keeps_examples_that_wait_to_be_written(engine: AsyncEngine) -> None:
    async with two_examples_held_up(engine) as (runner, sink, history_id, task):
        runner.cancel()  # example 1 is waiting for room
    assert await task is SessionStatus.CANCELLED
    async with session_factory(engine)() as db:
        indexes = await db.scalars(
            select(TrainingExample.index).where(TrainingExample.history_id == history_id)
        )
        assert sorted(indexes) == [0, 1]
    assert sorted(sink.indexes(ExampleScored, ExampleFailed)) == [0, 1]
    await assert_record_agrees(engine, history_id)


@asynccontextmanager
async def examples_refused(engine: AsyncEngine, message: str) -> AsyncIterator[None]:
    """The database refuses every new training example, as a full disk would."""
    if engine.dialect.name == "sqlite":
        create = (
            "CREATE TRIGGER refuse_examples BEFORE INSERT ON training_examples "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    else:
        create = (
            "CREATE TRIGGER refuse_examples BEFORE INSERT ON training_examples FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
        )
    async with engine.begin() as connection:
        await connection.exec_driver_sql(create)
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER refuse_examples")


async def test_a_failed_write_stops_the_session(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    runner, sink, history_id = await watched_runner(
        engine, examples=50, concurrency=2, latency_ms=20
    )
    async with examples_refused(engine, "no space left on device"):
        assert await runner.run() is SessionStatus.FAILED
    async with session_factory(engine)() as db:
        stored = await db.get(TrainingHistory, history_id)
        stored_examples = select(func.count()).where(TrainingExample.history_id == history_id)
        count = await db.scalar(stored_examples)
    assert stored is not None
    assert stored.status is SessionStatus.FAILED
    assert stored.error is not None
    # The session says what happened in words a person can act on; the database's own
    # words are in the log, for the operator.
    assert stored.error == STORE_REFUSED
    assert "no space left on device" in caplog.text
    assert count == 0
    # Workers stop at their next example: those in flight when the write failed finish.
    assert len(sink.indexes(ExampleStarted)) <= 6
    assert sink.events[-1].event == SessionFinished(status=SessionStatus.FAILED)


async def test_a_session_over_every_protocol_with_faults(engine: AsyncEngine) -> None:
    alice = await make_account(engine, "alice")
    env = {"KEY": "secret"}
    with FakeProvider() as fake:
        configs = [
            TeacherConfig("gpt", "openai", "gpt-x", fake.base_url("openai"), "KEY"),
            TeacherConfig("groq", "openai", "llama-x", fake.base_url("openai"), "KEY"),
            TeacherConfig("gemini", "gemini", "gemini-x", fake.base_url("gemini"), "KEY"),
            TeacherConfig("ollama", "ollama", "llama3", fake.base_url("ollama")),
            TeacherConfig("tgi", "tgi", "tgi", fake.base_url("tgi")),
            TeacherConfig("claude", "anthropic", "claude-x", fake.base_url("anthropic"), "KEY"),
            TeacherConfig(
                "flaky", "openai", "flaky-x", fake.base_url("openai"), "KEY", timeout_s=0.3
            ),
        ]
        retry = RetryPolicy(max_attempts=2, base_wait_s=0.01, max_wait_s=0.05, max_total_s=1)
        built = build_ensemble(configs, env=env, retry=retry)
        teachers = {t.name: t for t in built}
        # The flaky teacher hangs past its timeout every time; Gemini fails twice with 500s.
        fake.faults.plan("flaky-x", *[hang(2.0)] * 40)
        fake.faults.plan("gemini-x", server_error(500), server_error(500), server_error(500))
        plan = make_plan(built, num_examples=4, voting=VotingStrategy.JURY, seed=3)
        sink = CollectingSink()
        try:
            history = await train(
                session_factory(engine),
                alice.id,
                plan,
                teachers,
                lambda _: sink,
                options=RunnerOptions(2),
            )
        finally:
            for teacher in built:
                await teacher.aclose()
    assert history.status is SessionStatus.COMPLETED
    assert history.num_examples_successful == 4
    await assert_record_agrees(engine, history.id)
    async with session_factory(engine)() as db:
        flaky = (
            await db.scalars(select(TeacherOutput).where(TeacherOutput.model == "flaky"))
        ).all()
        protocols = (
            await db.scalars(
                select(TeacherOutput.model).where(
                    TeacherOutput.error.is_(None), TeacherOutput.model != "flaky"
                )
            )
        ).all()
    assert len(flaky) == 4
    assert all(o.error == "no answer within 0.3s" for o in flaky)
    assert {"gpt", "groq", "ollama", "tgi", "claude"} <= set(protocols)
    responded = [e.event for e in sink.events if isinstance(e.event, TeacherResponded)]
    assert len(responded) == 4 * 7
    assert any(e.model == "flaky" and not e.ok for e in responded)
