"""A worker's hold on the sessions it runs.

Each running session has a lease in the database (models/leases.py) that the worker renews,
all of its sessions in one statement, every third of a lease. The worker also keeps a local
deadline for each: the start of its last successful renewal plus the lease, less a margin.
Past it, the session's runner stops by itself, before any other worker may claim the session;
and a renewal that finds a session no longer the worker's stops its runner at once. The same
keeper looks for cancellation requests of its sessions twice a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.leases import cancel_requested, renew

logger = logging.getLogger("chorus.leases")

# The part of a lease a worker does not count on: its statements take time, and a renewal
# that lands late must still find the session its own.
MARGIN = 0.2
CANCEL_CHECK_S = 0.5


def new_owner_id() -> str:
    """A worker's name in `lease_owner`: where it runs, and unique to this start."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Holder(Protocol):
    """What runs the session under the lease (the session's runner)."""

    def lose(self) -> None: ...

    def cancel(self) -> None: ...


class Lease:
    """One session held by one worker. `lose()` tells its holder to stop writing at once."""

    def __init__(
        self,
        history_id: int,
        owner: str,
        lease_s: float,
        *,
        claimed_at: float,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.history_id = history_id
        self.owner = owner
        self._lease_s = lease_s
        self._heartbeat = heartbeat
        self._deadline = claimed_at + lease_s * (1 - MARGIN)
        self.lost = False
        # Set by its runner before it writes the session's final status: from then on a
        # session no longer RUNNING is the runner's own doing, and its fenced writes (the
        # status, then SessionFinished) alone say whether another worker took it.
        self.finishing = False
        self.holder: Holder | None = None

    def held(self) -> bool:
        return not self.lost and time.monotonic() < self._deadline

    def renewed(self, started_at: float) -> None:
        self._deadline = started_at + self._lease_s * (1 - MARGIN)

    def lose(self, why: str) -> None:
        if not self.lost:
            self.lost = True
            logger.warning(
                "session %d is no longer held by %s: %s", self.history_id, self.owner, why
            )
            if self.holder is not None:
                self.holder.lose()

    def cancel(self) -> None:
        if self.holder is not None:
            self.holder.cancel()

    async def beat(self) -> None:
        """Tell the queue the session's job is alive, if it keeps such a heartbeat."""
        if self._heartbeat is not None:
            try:
                await self._heartbeat()
            except Exception:
                logger.warning("the queue's heartbeat of session %d failed", self.history_id)


class LeaseKeeper:
    """Renews a worker's leases, stops the runners of the ones it loses, and passes on
    cancellation requests; its tasks run from `start()` to `aclose()`."""

    def __init__(self, db: async_sessionmaker[AsyncSession], owner: str, lease_s: float) -> None:
        self._db = db
        self.owner = owner
        self.lease_s = lease_s
        self._leases: dict[int, Lease] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def hold(self, lease: Lease) -> None:
        self._leases[lease.history_id] = lease

    def let_go(self, lease: Lease) -> None:
        if self._leases.get(lease.history_id) is lease:
            del self._leases[lease.history_id]

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._renew_periodically(), name="lease renewal"),
            asyncio.create_task(self._watch(), name="lease watch"),
        ]

    async def aclose(self) -> None:
        """Stop between statements, not in one: a connection torn from its statement is left
        for the garbage collector to close."""
        self._stopping.set()
        await stop_between_statements(self._tasks, self.lease_s / 3)
        self._tasks = []

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`, or until stopping; whether to go on."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    async def _renew_periodically(self) -> None:
        interval = self.lease_s / 3
        while await self._pause(interval):
            try:
                async with asyncio.timeout(interval):
                    await self.renew()
            except Exception as error:
                # The leases' deadlines stand: past them the runners stop by themselves.
                logger.warning("renewing the leases of %s failed: %s", self.owner, error)

    async def renew(self) -> None:
        leases = [lease for lease in self._leases.values() if not lease.lost]
        if not leases:
            return
        started = time.monotonic()
        async with self._db() as db:
            still = await renew(
                db, self.owner, [lease.history_id for lease in leases], self.lease_s
            )
        for lease in leases:
            if lease.history_id in still:
                lease.renewed(started)
                await lease.beat()
            elif not lease.finishing:
                lease.lose("another worker took it over, or it ended")

    async def _watch(self) -> None:
        while await self._pause(CANCEL_CHECK_S):
            for lease in list(self._leases.values()):
                if not lease.lost and not lease.held():
                    lease.lose("its lease ran out before it could be renewed")
            if not self._leases:
                continue
            try:
                async with asyncio.timeout(self.lease_s / 3), self._db() as db:
                    cancelled = await cancel_requested(db, self.owner)
            except Exception as error:
                logger.warning("looking for cancelled sessions failed: %s", error)
                continue
            for history_id in cancelled:
                asked = self._leases.get(history_id)
                if asked is not None and not asked.lost:
                    asked.cancel()


async def stop_between_statements(tasks: Sequence[asyncio.Task[None]], within_s: float) -> None:
    """Wait for tasks that were told to stop to finish their statement and stop; cancel the
    ones that do not within `within_s`."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=within_s)
    for task in late:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
