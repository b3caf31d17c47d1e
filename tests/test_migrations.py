"""Migrations build the models' schema on every backend, and undo it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import Base
from models.engine import create_engine, session_factory
from models.enums import SessionStatus, VotingStrategy
from models.fulltext import include_name
from models.tables import SessionModelStats, TrainingHistory, User
from server import migrate
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.factories import T0
from tests.test_totals import assert_statistics_as_summed, assert_totals_match_sessions


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
