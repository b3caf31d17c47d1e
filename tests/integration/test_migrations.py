"""Migrations build the models' schema on every backend, and undo it."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import Base
from models.engine import create_engine, session_factory
from models.enums import Genre, SessionStatus, VotingStrategy
from models.errors import LeaseLost
from models.events import events_after
from models.fulltext import include_name
from models.leases import fence
from models.tables import EventRow, EventStream, SessionModelStats, TrainingHistory, User
from server import migrate
from tests.integration.test_totals import assert_statistics_as_summed, assert_totals_match_sessions
from tests.support.databases import BACKENDS, drop_database, fresh_database_url
from tests.support.factories import T0
from trainer.events import (
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


@pytest.fixture(params=BACKENDS)
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    url = fresh_database_url(request.param, tmp_path)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        drop_database(url)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_matches_the_models_and_downgrade_undoes_it(
    empty_engine: AsyncEngine,
) -> None:
    with pytest.raises(migrate.SchemaBehind, match="chorus migrate"):
        await migrate.ensure_current(empty_engine)

    await migrate.upgrade(empty_engine)
    await migrate.ensure_current(empty_engine)
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        assert set(Base.metadata.tables) <= await connection.run_sync(_tables)

    await migrate.downgrade(empty_engine, "base")
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_tables) <= {"alembic_version"}
    assert await migrate.current_revision(empty_engine) is None

    await migrate.upgrade(empty_engine)
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()


def _stored_session(user_id: int, number: int, quality: float | None) -> dict[str, object]:
    return {
        "user_id": user_id,
        "session_id": f"before-totals-{number}",
        "num_examples_requested": 10,
        "num_examples_successful": number,
        "stories_saved_count": number % 3,
        "average_quality": quality,
        "total_time_seconds": None if number == 2 else 60 * number,
        "fine_tuning_triggered": number % 2 == 0,
        "fine_tuning_examples": 3 * number,
        "started_at": T0,
        "status": SessionStatus.COMPLETED,
        "voting_strategy": VotingStrategy.JURY,
    }


async def test_upgrading_fills_the_totals_from_the_sessions_stored(
    empty_engine: AsyncEngine,
) -> None:
    await migrate.upgrade(empty_engine, "0004")
    async with session_factory(empty_engine)() as db:
        await db.execute(insert(User), [{"name": name} for name in ("ann", "ben", "cid")])
        ann, ben, cid = (await db.scalars(select(User.id).order_by(User.id))).all()
        await db.execute(
            insert(TrainingHistory),
            [
                _stored_session(ann, 1, 7.1),
                _stored_session(ann, 2, None),
                _stored_session(ann, 3, 8.4),
                _stored_session(ben, 4, 9.0),
            ],
        )
        ids = (await db.scalars(select(TrainingHistory.id).order_by(TrainingHistory.id))).all()
        # 31.2 and 14.27 are not exact in MariaDB's FLOAT: the totals must add what SUM() did.
        await db.execute(
            insert(SessionModelStats),
            [
                {"history_id": ids[0], "model": "alpha", "wins": 4, "total_quality": 31.2},
                {"history_id": ids[0], "model": "beta", "wins": 0, "total_quality": 0.0},
                {"history_id": ids[2], "model": "alpha", "wins": 2, "total_quality": 14.27},
                {"history_id": ids[3], "model": "beta", "wins": 1, "total_quality": 9.0},
            ],
        )
        await db.commit()

    await migrate.upgrade(empty_engine)
    async with session_factory(empty_engine)() as db:
        await assert_totals_match_sessions(db)
        for user_id in (ann, ben, cid):
            await assert_statistics_as_summed(db, user_id)


# Events as the log stored them before 0007, under their GraphQL names, and what they are.
LOGGED_BEFORE_0007: list[tuple[str, dict[str, Any], SessionEvent]] = [
    (
        "SessionStarted",
        {"numExamples": 2, "teachers": ["alpha", "beta"], "votingStrategy": "JURY"},
        SessionStarted(
            num_examples=2, teachers=("alpha", "beta"), voting_strategy=VotingStrategy.JURY
        ),
    ),
    (
        "ExampleStarted",
        {"index": 0, "genre": "FANTASY", "prompt": "A lighthouse keeper", "style": None},
        ExampleStarted(index=0, genre=Genre.FANTASY, prompt="A lighthouse keeper", style=None),
    ),
    (
        "TeacherResponded",
        {
            "index": 0,
            "model": "alpha",
            "ok": True,
            "latencyMs": 310,
            "textQuality": 7.5,
            "error": None,
        },
        TeacherResponded(
            index=0, model="alpha", ok=True, latency_ms=310, text_quality=7.5, error=None
        ),
    ),
    (
        "VoteCast",
        {"index": 0, "voter": "beta", "candidate": "alpha"},
        VoteCast(index=0, voter="beta", candidate="alpha"),
    ),
    (
        "ExampleScored",
        {
            "index": 0,
            "winner": "alpha",
            "textQuality": 7.5,
            "confidence": 1.0,
            "finalQuality": 8.25,
            "savedToDatabase": True,
            "storedInMemory": False,
            "text": "The lamp went out at midnight.",
        },
        ExampleScored(
            index=0,
            winner="alpha",
            text_quality=7.5,
            confidence=1.0,
            final_quality=8.25,
            saved_to_database=True,
            stored_in_memory=False,
            text="The lamp went out at midnight.",
        ),
    ),
    (
        "ExampleFailed",
        {"index": 1, "error": "no valid output (alpha: refused)"},
        ExampleFailed(index=1, error="no valid output (alpha: refused)"),
    ),
    (
        "SessionProgress",
        {"completed": 1, "failed": 1, "total": 2, "etaSeconds": None},
        SessionProgress(completed=1, failed=1, total=2, eta_seconds=None),
    ),
    (
        "FineTuningTriggered",
        {"examplesCollected": 50, "jobId": 7},
        FineTuningTriggered(examples_collected=50, job_id=7),
    ),
    ("SessionFinished", {"status": "COMPLETED"}, SessionFinished(status=SessionStatus.COMPLETED)),
]


async def test_upgrading_renames_the_logged_event_fields(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine, "0006")
    # More rows than one batch of the migration's, so that it goes on past the first.
    batch = importlib.import_module("migrations.versions.0007_event_fields_snake_case").BATCH
    fillers = [
        (
            "TeacherResponded",
            {
                "index": 2,
                "model": f"teacher-{n}",
                "ok": False,
                "latencyMs": n,
                "textQuality": None,
                "error": "invalid: repetitive",
            },
        )
        for n in range(batch)
    ]
    logged = [(kind, payload) for kind, payload, _ in LOGGED_BEFORE_0007] + fillers
    async with session_factory(empty_engine)() as db:
        await db.execute(insert(User), [{"name": "ann"}])
        ann = await db.scalar(select(User.id))
        assert ann is not None
        await db.execute(insert(TrainingHistory), [_stored_session(ann, 1, 8.0)])
        history_id = await db.scalar(select(TrainingHistory.id))
        assert history_id is not None
        await db.execute(
            insert(EventRow),
            [
                {"history_id": history_id, "seq": seq, "type": kind, "payload": payload, "at": T0}
                for seq, (kind, payload) in enumerate(logged, start=1)
            ],
        )
        await db.commit()

    await migrate.upgrade(empty_engine)
    async with session_factory(empty_engine)() as db:
        stored = await events_after(db, history_id, 0, limit=len(logged) + 1)
    read = [NumberedEvent.from_stored("before-totals-1", event) for event in stored]
    assert [event.seq for event in read] == list(range(1, len(logged) + 1))
    assert [event.event for event in read[: len(LOGGED_BEFORE_0007)]] == [
        event for _, _, event in LOGGED_BEFORE_0007
    ]
    assert read[-1].event == TeacherResponded(
        index=2,
        model=f"teacher-{batch - 1}",
        ok=False,
        latency_ms=batch - 1,
        text_quality=None,
        error="invalid: repetitive",
    )

    await migrate.downgrade(empty_engine, "0006")
    async with session_factory(empty_engine)() as db:
        restored = await events_after(db, history_id, 0, limit=len(logged) + 1)
    assert [(event.type, event.payload) for event in restored] == logged


async def test_upgrading_gives_each_session_log_its_writer(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine, "0011")
    async with session_factory(empty_engine)() as db:
        await db.execute(insert(User), [{"name": "ann"}])
        ann = await db.scalar(select(User.id))
        assert ann is not None
        running = _stored_session(ann, 1, None) | {
            "status": SessionStatus.RUNNING,
            "lease_owner": "worker-1",
        }
        await db.execute(insert(TrainingHistory), [running, _stored_session(ann, 2, 8.0)])
        ids = list(await db.scalars(select(TrainingHistory.id).order_by(TrainingHistory.id)))
        await db.execute(
            insert(EventRow),
            [
                {"history_id": ids[0], "seq": 1, "type": "SessionStarted", "payload": {}, "at": T0},
                {"history_id": ids[1], "seq": 1, "type": "SessionStarted", "payload": {}, "at": T0},
            ],
        )
        await db.commit()

    await migrate.upgrade(empty_engine)
    async with session_factory(empty_engine)() as db:
        streams = (await db.execute(select(EventStream.history_id, EventStream.writer))).all()
        assert sorted(streams) == [(ids[0], "worker-1"), (ids[1], None)]
        # The running session's worker writes on; no other can.
        await fence(db, ids[0], "worker-1")
        await db.rollback()
        with pytest.raises(LeaseLost):
            await fence(db, ids[0], "worker-2")

    await migrate.downgrade(empty_engine, "0011")
    async with session_factory(empty_engine)() as db:
        assert len(await events_after(db, ids[0], 0)) == 1
        assert "event_streams" not in await db.run_sync(lambda s: _tables(s.connection()))
