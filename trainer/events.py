"""What a running session tells its watchers, in order, each event with a gap-free `seq`.

The payload of each event is what the GraphQL event type shows, in its field names, so the
log can be replayed to a subscriber as it was emitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from models.base import utcnow
from models.events import EVENT_TYPES, TrainingEvent


class EventSink(Protocol):
    """Where a session's events go: the event log, the broadcast, a test's list."""

    async def emit(self, event: TrainingEvent) -> None: ...


class Emitter:
    """Numbers a session's events and hands them to the sink in that order.

    Examples run concurrently; the lock makes numbering and delivery one step, so that the
    sink sees seq 1, 2, 3 ... with no gap and no reordering.
    """

    def __init__(
        self,
        session_id: str,
        sink: EventSink,
        *,
        last_seq: int = 0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_id = session_id
        self.last_seq = last_seq
        self._sink = sink
        self._clock = clock
        self._lock = asyncio.Lock()

    async def emit(self, type: str, **payload: Any) -> TrainingEvent:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        async with self._lock:
            event = TrainingEvent(self.session_id, self.last_seq + 1, type, self._clock(), payload)
            await self._sink.emit(event)
            self.last_seq = event.seq
            return event


class CollectingSink:
    """Keeps every event in memory: for the command line's progress and for tests."""

    def __init__(self) -> None:
        self.events: list[TrainingEvent] = []

    async def emit(self, event: TrainingEvent) -> None:
        self.events.append(event)
