"""Admission: how many requests of an API process read the database at once, and the queue of
the others.

An API process serves every request on one event loop. With hundreds of requests in flight
the loop is saturated, and a request that holds a connection waits its turn in the loop
between its statements: connections were held many times longer than their statements,
and requests waiting for one timed out. So at most `limit` requests run at once (GraphQL
operations and REST reads over HTTP, each read of a subscription's replay or log); the others
wait their turn in arrival order, holding nothing, for up to `wait_s`, and are then told to
try again (`Overloaded`). A request whose client goes away while it waits leaves the queue.

A request that is already admitted is not admitted again for the reads it makes (a
ContextVar says so, and the tasks it starts inherit it), so nothing waits for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from models.errors import ServiceUnavailable
from trainer import metrics

# How long a client told to try again is asked to wait first (Retry-After).
RETRY_AFTER_S = 5

_admitted: ContextVar[bool] = ContextVar("chorus_admitted", default=False)


class Overloaded(ServiceUnavailable):
    """A request waited its longest for its turn."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(
            f"The server is too busy to answer now: this request waited {wait_s:g} s for its "
            "turn; try again in a few seconds."
        )
        self.retry_after_s = RETRY_AFTER_S


class Admission:
    """At most `limit` requests at once; the others wait in arrival order for up to `wait_s`."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.active = 0
        self.waiting = 0
        # Turns not yet given, in arrival order; one whose request left is cancelled and
        # skipped when it comes up.
        self._turns: deque[asyncio.Future[None]] = deque()

    async def wait_turn(self, gone: Callable[[], Awaitable[object]] | None = None) -> bool:
        """Until the caller may run: True, and it must call `done()` when it has finished.
        While it waits, `gone()` is awaited: False when that finished first (the client went
        away), the caller having left the queue. Overloaded after `wait_s`."""
        if self.active < self.limit and not self.waiting:
            self._count_active(+1)
            metrics.ADMISSION_WAIT_SECONDS.observe(0.0)
            return True
        turn = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        self.waiting += 1
        metrics.ADMISSION_WAITING.inc()
        watcher = None if gone is None else asyncio.ensure_future(gone())
        started = time.perf_counter()
        admitted = False
        try:
            pending: set[asyncio.Future[Any]] = {turn}
            if watcher is not None:
                pending.add(watcher)
            await asyncio.wait(pending, timeout=self.wait_s, return_when=asyncio.FIRST_COMPLETED)
            admitted = turn.done() and not (watcher is not None and watcher.done())
        finally:
            self.waiting -= 1
            metrics.ADMISSION_WAITING.dec()
            if not admitted:
                if turn.done():  # given just as its request left
                    self.done()
                else:
                    turn.cancel()
            if watcher is not None and not watcher.done():
                watcher.cancel()
                await asyncio.wait({watcher})
        waited = time.perf_counter() - started
        metrics.ADMISSION_WAIT_SECONDS.observe(waited)
        if admitted:
            return True
        if watcher is not None and watcher.done() and not watcher.cancelled():
            # A transport that failed while it was watched is a client gone as well.
            watcher.exception()
            metrics.ADMISSION_LEFT_GONE.inc()
            return False
        metrics.ADMISSION_LEFT_TIMEOUT.inc()
        raise Overloaded(self.wait_s)

    def done(self) -> None:
        """A request admitted has finished: the next one waiting runs."""
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)  # its slot passes on, `active` unchanged
                return
        self._count_active(-1)

    def _count_active(self, change: int) -> None:
        self.active += change
        metrics.ADMISSION_ACTIVE.inc(change)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The block runs as an admitted request: the reads it makes are not admitted again."""
        token = _admitted.set(True)
        try:
            yield
        finally:
            _admitted.reset(token)

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """The block runs in its turn (at once in a request already admitted); Overloaded
        when that does not come within `wait_s`."""
        if _admitted.get():
            yield
            return
        await self.wait_turn()
        try:
            with self.running():
                yield
        finally:
            self.done()
