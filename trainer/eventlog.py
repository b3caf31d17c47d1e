"""Writing a session's events to the log in batches, then publishing them.

Events are published only once they are in the log, so a subscriber that sees a gap in the
live feed can always fill it from the log. Writes are batched by what piles up while the
previous batch is written, and a write begins at most once per `LINGER_S`: an event that
follows a quiet stretch goes in at once, while a session in full flight (2,000 events a
second at 50 examples in flight) writes a batch every `LINGER_S` instead of one every few
milliseconds, each with its own checkout, fence, insert, commit and publish.

A worker's writer is fenced by the session's lease: each batch goes in only while the worker
still owns the session, and through a database outage it is retried for as long as the
lease holds. Once the lease is lost the writer drops what it has: the new owner numbers its
events from the log's last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.errors import LeaseLost, is_outage
from models.events import StoredEvent, append_events, last_seq
from models.leases import fence
from trainer.events import NumberedEvent
from trainer.leases import Lease

logger = logging.getLogger("chorus.events")

# Publishes a session's events as the log stored them (`trainer.live.EventHub.publish`).
Publish = Callable[[str, Sequence[StoredEvent]], Awaitable[None]]
# Beyond this many unwritten events the session waits for the log to catch up.
MAX_PENDING = 5000
# Attempts at a batch the database refuses, or (without a lease) cannot take.
MAX_WRITE_ATTEMPTS = 12
MAX_RETRY_WAIT_S = 2.0
# The least time from one write's start to the next one's. Written every few milliseconds, a
# busy session's log took a seventh of its worker's CPU on MariaDB (each write's checkout,
# fence, insert, commit and publish); at 50 ms a live event waits 25 ms more on average
# (bench/README.md, "Fifteenth round").
LINGER_S = 0.05


class EventLogWriter:
    """An event sink that persists then publishes, owning the task that does it."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        history_id: int,
        publish: Publish | None = None,
        *,
        lease: Lease | None = None,
        retry_wait_s: float = 0.2,
        linger_s: float = LINGER_S,
    ) -> None:
        self._db = db
        self._history_id = history_id
        self._publish = publish
        self._lease = lease
        self._retry_wait_s = retry_wait_s
        self._linger_s = linger_s
        # When the last write began (the event loop's clock), so that the next one waits
        # out what is left of `linger_s`.
        self._last_write = -linger_s
        self._pending: list[NumberedEvent] = []
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    @property
    def _dropping(self) -> bool:
        return self._lease is not None and self._lease.lost

    async def emit(self, event: NumberedEvent) -> None:
        if self._closing.is_set():
            raise RuntimeError("the event log writer is closed")
        if self._task.done():
            self._task.result()  # surfaces the writer's failure to the session
        if self._dropping:
            return
        self._pending.append(event)
        self._drained.clear()
        self._arrived.set()
        if len(self._pending) >= MAX_PENDING:
            await self._drained.wait()

    async def flush(self) -> None:
        await self._drained.wait()

    async def aclose(self) -> None:
        """Write and publish everything emitted (unless the lease is lost), then stop."""
        self._closing.set()
        self._arrived.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if self._pending and not self._closing.is_set():
                await self._linger()
            self._arrived.clear()
            if self._pending:
                self._last_write = asyncio.get_running_loop().time()
                batch, self._pending = self._pending, []
                # Stored once, for the log and the broadcast both.
                stored = [event.stored() for event in batch]
                written = await self._write(batch[0].session_id, stored)
                if written and self._publish is not None:
                    await self._publish(batch[0].session_id, stored)
            if self._dropping:
                self._pending.clear()
            if not self._pending:
                self._drained.set()
                if self._closing.is_set():
                    return

    async def _linger(self) -> None:
        """Wait out what is left of `linger_s` since the last write began, or until closing."""
        left = self._last_write + self._linger_s - asyncio.get_running_loop().time()
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), left)

    async def _write(self, session_id: str, batch: list[StoredEvent]) -> bool:
        """Whether the batch is in the log."""
        attempt = 0
        while not self._dropping:
            try:
                async with self._db() as db:
                    if attempt and await last_seq(db, self._history_id) >= batch[-1].seq:
                        return True  # the failed attempt had committed after all
                    if self._lease is not None:
                        await fence(db, self._history_id, self._lease.owner)
                    await append_events(db, self._history_id, batch)
                    await db.commit()
                return True
            except LeaseLost:
                assert self._lease is not None
                self._lease.lose("its events were refused: another worker owns the session")
                return False
            except Exception as error:
                attempt += 1
                if self._lease is not None and is_outage(error) and not self._lease.held():
                    self._lease.lose("the database was out of reach for longer than its lease")
                    return False
                if not self._may_retry(error, attempt):
                    logger.exception(
                        "giving up on events %d-%d of session %s after %d attempts: they are "
                        "not in the event log, and replays will miss them",
                        batch[0].seq,
                        batch[-1].seq,
                        session_id,
                        attempt,
                    )
                    return False
                logger.warning(
                    "writing %d events of session %s failed (attempt %d), retrying: %s",
                    len(batch),
                    session_id,
                    attempt,
                    error,
                )
                await asyncio.sleep(min(self._retry_wait_s * 2**attempt, MAX_RETRY_WAIT_S))
        return False

    def _may_retry(self, error: Exception, attempt: int) -> bool:
        """Through an outage while the lease holds; otherwise a bounded number of times."""
        return (self._lease is not None and is_outage(error)) or attempt < MAX_WRITE_ATTEMPTS
