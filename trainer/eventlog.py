"""Writing a session's events to the log in batches, then publishing them.

Events are published only once they are in the log, so a subscriber that sees a gap in the
live feed can always fill it from the log. Writes are batched by what piles up while the
previous batch is written: one round-trip per event when events are few, a few per second
when a 1000-example session is in full flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.events import StoredEvent, append_events
from trainer.events import NumberedEvent

logger = logging.getLogger("chorus.events")

# Publishes a session's events as the log stored them (`trainer.live.EventHub.publish`).
Publish = Callable[[str, Sequence[StoredEvent]], Awaitable[None]]
# Beyond this many unwritten events the session waits for the log to catch up.
MAX_PENDING = 5000
MAX_WRITE_ATTEMPTS = 12


class EventLogWriter:
    """An event sink that persists then publishes, owning the task that does it."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        history_id: int,
        publish: Publish | None = None,
        *,
        retry_wait_s: float = 0.2,
    ) -> None:
        self._db = db
        self._history_id = history_id
        self._publish = publish
        self._retry_wait_s = retry_wait_s
        self._pending: list[NumberedEvent] = []
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = False
        self._task = asyncio.create_task(self._run())

    async def emit(self, event: NumberedEvent) -> None:
        if self._closing:
            raise RuntimeError("the event log writer is closed")
        if self._task.done():
            self._task.result()  # surfaces the writer's failure to the session
        self._pending.append(event)
        self._drained.clear()
        self._arrived.set()
        if len(self._pending) >= MAX_PENDING:
            await self._drained.wait()

    async def flush(self) -> None:
        await self._drained.wait()

    async def aclose(self) -> None:
        """Write and publish everything emitted, then stop."""
        self._closing = True
        self._arrived.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                # Stored once, for the log and the broadcast both.
                stored = [event.stored() for event in batch]
                await self._write(batch[0].session_id, stored)
                if self._publish is not None:
                    await self._publish(batch[0].session_id, stored)
            if not self._pending:
                self._drained.set()
                if self._closing:
                    return

    async def _write(self, session_id: str, batch: list[StoredEvent]) -> None:
        attempt = 0
        while True:
            try:
                async with self._db() as db:
                    await append_events(db, self._history_id, batch)
                    await db.commit()
                return
            except Exception:
                attempt += 1
                if attempt >= MAX_WRITE_ATTEMPTS:
                    logger.exception(
                        "giving up on events %d-%d of session %s after %d attempts: they are "
                        "not in the event log, and replays will miss them",
                        batch[0].seq,
                        batch[-1].seq,
                        session_id,
                        attempt,
                    )
                    return
                logger.exception(
                    "writing %d events of session %s failed (attempt %d); retrying",
                    len(batch),
                    session_id,
                    attempt,
                )
                await asyncio.sleep(min(self._retry_wait_s * 2**attempt, 5.0))
