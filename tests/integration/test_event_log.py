"""The event log's writer on each backend: a steady stream of events goes in a batch per
linger, an event after a quiet stretch goes in at once, and closing writes what lingers
without waiting for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models.base import utcnow
from models.engine import session_factory
from models.events import StoredEvent
from models.tables import EventRow
from tests.integration.test_session import offline_teachers
from tests.support import make_account
from trainer.eventlog import EventLogWriter
from trainer.events import NumberedEvent, SessionProgress
from trainer.plan import make_plan
from trainer.recorder import create_session


class Published:
    """The batches the writer publishes, each once it is in the log, with when it came."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[int]]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, session_id: str, events: Sequence[StoredEvent]) -> None:
        self.batches.append((time.monotonic(), [event.seq for event in events]))
        self.arrived.set()

    async def next(self, timeout_s: float = 10.0) -> float:
        """When the next batch came."""
        await asyncio.wait_for(self.arrived.wait(), timeout_s)
        self.arrived.clear()
        return self.batches[-1][0]


async def new_log(
    engine: AsyncEngine, linger_s: float
) -> tuple[async_sessionmaker[AsyncSession], EventLogWriter, Published, str]:
    alice = await make_account(engine, "alice")
    db = session_factory(engine)
    async with db() as transaction:
        plan = make_plan(list(offline_teachers().values()), num_examples=1, seed=1)
        history = await create_session(transaction, alice.id, plan)
        await transaction.commit()
    published = Published()
    writer = EventLogWriter(db, history.id, published, linger_s=linger_s)
    return db, writer, published, history.session_id


def event(session_id: str, seq: int) -> NumberedEvent:
    return NumberedEvent(session_id, seq, utcnow(), SessionProgress(seq, 0, 1000, None))


async def logged_seqs(db: async_sessionmaker[AsyncSession]) -> list[int]:
    async with db() as transaction:
        return list((await transaction.scalars(select(EventRow.seq).order_by(EventRow.id))).all())


async def test_a_steady_stream_goes_in_one_batch_per_linger(engine: AsyncEngine) -> None:
    linger_s = 0.1
    db, writer, published, session_id = await new_log(engine, linger_s)
    started = time.monotonic()
    try:
        for seq in range(1, 161):
            await writer.emit(event(session_id, seq))
            await asyncio.sleep(0.005)
    finally:
        await writer.aclose()
    took = time.monotonic() - started
    # One batch per few milliseconds without the linger; at most one per linger with it.
    assert 3 <= len(published.batches) <= took / linger_s + 2
    assert [seq for _, seqs in published.batches for seq in seqs] == list(range(1, 161))
    assert await logged_seqs(db) == list(range(1, 161))


async def test_an_event_after_a_quiet_stretch_goes_in_at_once(engine: AsyncEngine) -> None:
    linger_s = 1.0
    db, writer, published, session_id = await new_log(engine, linger_s)
    try:
        emitted = time.monotonic()
        await writer.emit(event(session_id, 1))
        first = await published.next()
        assert first - emitted < linger_s / 2
        # Right behind a write: it waits for the rest of the linger (less however much
        # longer the first write took than the second).
        await writer.emit(event(session_id, 2))
        second = await published.next()
        assert second - first >= linger_s / 2
        # After a quiet stretch longer than the linger: at once again.
        await asyncio.sleep(linger_s * 1.2)
        emitted = time.monotonic()
        await writer.emit(event(session_id, 3))
        assert await published.next() - emitted < linger_s / 2
    finally:
        await writer.aclose()
    assert await logged_seqs(db) == [1, 2, 3]


async def test_closing_writes_what_lingers_without_waiting(engine: AsyncEngine) -> None:
    linger_s = 30.0
    db, writer, published, session_id = await new_log(engine, linger_s)
    await writer.emit(event(session_id, 1))
    await published.next()
    await writer.emit(event(session_id, 2))
    await writer.emit(event(session_id, 3))
    closing = time.monotonic()
    await asyncio.wait_for(writer.aclose(), linger_s / 3)
    assert time.monotonic() - closing < linger_s / 3
    assert [seqs for _, seqs in published.batches] == [[1], [2, 3]]
    assert await logged_seqs(db) == [1, 2, 3]
