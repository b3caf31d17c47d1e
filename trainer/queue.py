"""The queue of sessions to run: a wake-up and a distributor, never the state.

It carries session ids only. What a session is and who runs it is in the database
(models/leases.py), so a wake-up that comes twice, late or never is harmless: a worker's
claim decides, and the workers' scans wake up anything left waiting. Two engines sit behind
one small interface: `MemoryQueue` here, in the process (`memory://`: `chorus serve` runs
its sessions itself), and SAQ on Redis (trainer/saq_queue.py) for `chorus worker` processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

logger = logging.getLogger("chorus.queue")

# Tells the queue that a session's job is alive (SAQ's heartbeat), on each lease renewal.
Heartbeat = Callable[[], Awaitable[None]]
# Runs one session to where its worker stops; what a queue's consumer calls for each job.
RunSession = Callable[[str, Heartbeat | None], Awaitable[None]]


class SessionQueue(Protocol):
    async def enqueue(self, session_id: str) -> None:
        """Wake a worker for the session; nothing if a wake-up of it is pending already."""

    async def depth(self) -> int:
        """Sessions woken up and waiting for a free slot."""
        ...

    async def serve(self, run: RunSession, slots: int) -> None:
        """Run sessions as they come, `slots` at once, until cancelled (or, for a queue
        that handles signals itself, until SIGTERM or SIGINT); then hand them back."""

    async def aclose(self) -> None: ...


class MemoryQueue:
    """The queue of one process. A session is pending from its wake-up until its run ends,
    as SAQ keeps a job's key, so a second wake-up meanwhile is dropped."""

    def __init__(self) -> None:
        self._waiting: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def enqueue(self, session_id: str) -> None:
        if session_id in self._pending:
            return
        self._pending.add(session_id)
        self._idle.clear()
        self._waiting.put_nowait(session_id)

    async def depth(self) -> int:
        return self._waiting.qsize()

    async def serve(self, run: RunSession, slots: int) -> None:
        async def slot() -> None:
            while True:
                session_id = await self._waiting.get()
                try:
                    await run(session_id, None)
                except Exception:
                    logger.exception("running session %s failed", session_id)
                finally:
                    self._pending.discard(session_id)
                    if not self._pending:
                        self._idle.set()

        async with asyncio.TaskGroup() as group:
            for _ in range(slots):
                group.create_task(slot())

    async def join(self) -> None:
        """Until nothing is waiting or running."""
        await self._idle.wait()

    async def aclose(self) -> None:
        return None
