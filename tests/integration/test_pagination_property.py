"""Property: keyset traversal in either direction returns exactly the filtered, ordered set."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from models.base import Base
from models.engine import create_engine, session_factory
from models.enums import HistoryOrder, SessionStatus, VotingStrategy
from models.history import HistoryFilter, history_page
from models.keyset import PageArgs
from models.tables import TrainingHistory, User
from tests.support.factories import T0

rows_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # started_at: few distinct values, many ties
        st.one_of(st.none(), st.sampled_from([6.5, 7.0, 8.5])),  # average_quality
        st.sampled_from([SessionStatus.COMPLETED, SessionStatus.FAILED]),
    ),
    max_size=30,
)
filters_strategy = st.one_of(
    st.none(),
    st.builds(HistoryFilter, status=st.sampled_from(list(SessionStatus))),
    st.builds(HistoryFilter, min_average_quality=st.sampled_from([7.0, 8.0])),
    st.builds(
        HistoryFilter, started_after=st.sampled_from([T0 + timedelta(minutes=m) for m in (1, 2)])
    ),
)


@dataclass(frozen=True)
class Stored:
    id: int
    started_at: datetime
    average_quality: float | None
    status: SessionStatus


def expected_order(
    rows: list[Stored], order: HistoryOrder, where: HistoryFilter | None
) -> list[int]:
    def keep(row: Stored) -> bool:
        if where is None:
            return True
        if where.status is not None and row.status != where.status:
            return False
        if where.min_average_quality is not None and (
            row.average_quality is None or row.average_quality < where.min_average_quality
        ):
            return False
        return where.started_after is None or row.started_at >= where.started_after

    kept = [row for row in rows if keep(row)]
    if order is HistoryOrder.AVERAGE_QUALITY_DESC:
        # NULL sorts below every value, as in SQL.
        ranked = sorted(
            kept,
            key=lambda r: (r.average_quality is not None, r.average_quality or 0.0, r.id),
            reverse=True,
        )
        return [row.id for row in ranked]
    ordered = sorted(kept, key=lambda row: (row.started_at, row.id))
    if order is HistoryOrder.STARTED_AT_DESC:
        ordered.reverse()
    return [row.id for row in ordered]


async def traverse(
    url: str,
    rows: list[tuple[int, float | None, SessionStatus]],
    order: HistoryOrder,
    where: HistoryFilter | None,
    size: int,
) -> tuple[list[int], list[int], list[int]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            for table in reversed(Base.metadata.sorted_tables):
                await db.execute(delete(table))
            user = User(name="prop")
            db.add(user)
            await db.flush()
            values = [
                {
                    "user_id": user.id,
                    "session_id": uuid.uuid4().hex,
                    "num_examples_requested": 1,
                    "started_at": T0 + timedelta(minutes=minute),
                    "average_quality": quality,
                    "status": status,
                    "voting_strategy": VotingStrategy.JURY,
                }
                for minute, quality, status in rows
            ]
            if values:
                await db.execute(insert(TrainingHistory), values)
            await db.commit()
            stored = [
                Stored(row.id, row.started_at, row.average_quality, row.status)
                for row in await db.scalars(select(TrainingHistory))
            ]
            forward: list[int] = []
            after = None
            while True:
                args = PageArgs.parse(first=size, after=after)
                page = await history_page(db, user.id, where, order, args)
                forward += [row.id for row in page.items]
                # Past a cursor there is always a previous row: the cursor's own.
                assert page.has_previous_page is (after is not None)
                if not page.has_next_page:
                    break
                after = page.end_cursor
            backward: list[int] = []
            before = None
            while True:
                args = PageArgs.parse(last=size, before=before)
                page = await history_page(db, user.id, where, order, args)
                backward = [row.id for row in page.items] + backward
                assert page.has_next_page is (before is not None)
                if not page.has_previous_page:
                    break
                before = page.start_cursor
        return forward, backward, expected_order(stored, order, where)
    finally:
        await engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    order=st.sampled_from(list(HistoryOrder)),
    where=filters_strategy,
    size=st.integers(min_value=1, max_value=7),
)
def test_traversal_returns_exactly_the_filtered_ordered_set(
    database_url: str,
    rows: list[tuple[int, float | None, SessionStatus]],
    order: HistoryOrder,
    where: HistoryFilter | None,
    size: int,
) -> None:
    forward, backward, expected = asyncio.run(traverse(database_url, rows, order, where, size))
    assert forward == expected
    assert backward == expected
