"""Live session events across processes: publish after the event log has them, and fan them
out to this process's subscribers with bounded memory. The trainer publishes and the API's
subscriptions read, so the hub sits with the trainer, below the GraphQL edge.

broadcaster hands every subscriber an unbounded queue, and its listener task dies silently
when the backend fails. So each process holds one broadcaster subscription per watched
session, drained at once into small bounded feeds; a feed that overflows is marked, and its
subscriber catches up from the event log. While any subscriber holds an event, every other
subscriber in the process that reads it, live or from the log, gets that same object: it is
converted and rendered once for all of them. Subscribers that asked for the same batching get
the same batch objects, made once per channel. Backend failures are logged, and subscribers then
poll the log, which every published event is already in: a lost live event delays a
subscriber, it never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from broadcaster import Broadcast

from models.engine import json_text
from models.events import StoredEvent
from trainer.events import EventBatch, NumberedEvent, event_of

logger = logging.getLogger("chorus.live")

FEED_CAPACITY = 2000
# Full reads of a session's log kept in each process, with the batches made of them: a
# crowd catching up through the same stretch reads and renders it once, not once each.
KEPT_READS = 16
# A loop's timers may fire up to a tick early (libuv counts milliseconds).
_CLOCK_SLACK_S = 0.002


def channel_of(session_id: str) -> str:
    return f"chorus.session.{session_id}"


def encode(events: Sequence[StoredEvent]) -> str:
    """A message of events as the log stores them: the log and the broadcast say the same."""
    return json_text(
        [
            {"seq": e.seq, "type": e.type, "at": e.at.isoformat(), "payload": e.payload}
            for e in events
        ]
    )


def decode(session_id: str, message: str) -> list[NumberedEvent]:
    return [
        NumberedEvent(
            session_id,
            item["seq"],
            datetime.fromisoformat(item["at"]),
            event_of(item["type"], item["payload"]),
        )
        for item in orjson.loads(message)
    ]


@dataclass(frozen=True, slots=True)
class Batching:
    """How a subscriber wants live events grouped: a batch goes out `delay_ms` after its
    first event arrived, or once it holds `max_events`, or at once with a SessionFinished."""

    delay_ms: int
    max_events: int


class Feed:
    """One subscriber's window onto a session's live events, at most `capacity` deep. It
    holds batches: each published message as it came, or, for a batching subscriber, the
    batches its channel made for everyone who asked for the same batching."""

    def __init__(self, capacity: int, held: _Held, batching: Batching | None = None) -> None:
        self._capacity = capacity
        self._held = held
        self.batching = batching
        self._batches: list[EventBatch] = []
        self.depth = 0
        self._waiter: asyncio.Future[None] | None = None
        # One timer at a time, moved on lazily: a timer set and cancelled for every wait
        # cost a good part of a delivery, and a thousand subscribers wait for every event.
        self._timer: asyncio.TimerHandle | None = None
        self._give_up_at = 0.0
        self.overflowed = False

    def offer(self, batch: EventBatch) -> None:
        if self.overflowed:
            return
        held_too = self.depth or self.batching is None
        if held_too and self.depth + len(batch.events) > self._capacity:
            # The subscriber is too slow to keep up live; it will read the log instead. (One
            # of the hub's batches larger than the feed is taken while the feed is empty: a
            # subscriber that asked for large batches can keep up with them.)
            self._batches.clear()
            self.depth = 0
            self.overflowed = True
        else:
            self._batches.append(batch)
            self.depth += len(batch.events)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, patience_s: float) -> list[EventBatch]:
        """What arrived since the last call, waiting up to `patience_s` for something."""
        if not self._batches and not self.overflowed:
            # A future, not asyncio.wait_for: that makes a task for every wait.
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            self._give_up_at = loop.time() + patience_s
            if self._timer is not None and self._timer.when() > self._give_up_at:
                self._timer.cancel()
                self._timer = None
            if self._timer is None:
                self._timer = loop.call_at(self._give_up_at, self._patience_over)
            try:
                await waiter
            finally:
                self._waiter = None
        batches, self._batches = self._batches, []
        self.depth = 0
        return batches

    def _patience_over(self) -> None:
        """The timer's end: wakes a wait that has lasted its patience, else comes again when
        the wait now under way will have."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        if loop.time() >= self._give_up_at - _CLOCK_SLACK_S:
            waiter.set_result(None)
        else:
            self._timer = loop.call_at(self._give_up_at, self._patience_over)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def recover(self) -> None:
        """The subscriber has caught up from the log: live delivery starts again."""
        self.overflowed = False

    def shared(self, events: Sequence[NumberedEvent]) -> list[NumberedEvent]:
        """`events` read from the log, as the objects other subscribers already hold."""
        return self._held.shared(events)

    async def replay(
        self,
        after_seq: int,
        limit: int,
        size: int,
        read: Callable[[], Awaitable[Sequence[NumberedEvent]]],
    ) -> tuple[EventBatch, ...]:
        """The log's events after `after_seq`, at most `limit` of them as `read` reads them,
        in batches of `size`: read and batched once for every subscriber in the process that
        asks the same while it is read, and kept a while when the read was full, for that
        stretch of the log does not change. So the batches are the same objects for all of
        them, executed and encoded once (schema.execution)."""
        return await self._held.replay((after_seq, limit, size), read)


class _Batcher:
    """Makes a channel's batches for the feeds that asked for one batching: one batch
    object for all of them, so that it is executed and encoded once (schema.execution).
    A batch holds consecutive seqs only; a gap in what arrives starts another."""

    def __init__(self, batching: Batching) -> None:
        self.batching = batching
        self.feeds: set[Feed] = set()
        self._pending: list[NumberedEvent] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, events: Sequence[NumberedEvent]) -> None:
        for event in events:
            if self._pending and event.seq != self._pending[-1].seq + 1:
                self.flush()
            self._pending.append(event)
            if len(self._pending) >= self.batching.max_events or event.is_last:
                self.flush()
        if not self._pending or self._timer is not None:
            return
        if self.batching.delay_ms == 0:
            self.flush()
        else:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.batching.delay_ms / 1000, self.flush)

    def flush(self) -> None:
        self.close()
        if self._pending:
            batch = EventBatch(tuple(self._pending))
            self._pending = []
            for feed in self.feeds:
                feed.offer(batch)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_ReadKey = tuple[int, int, int]  # after which seq, how many at most, how many a batch


class _Held:
    """A session's events that some subscriber in this process still holds, by seq. A seq
    is one event of its session (the log's key), so any copy of it may stand for the rest;
    an entry goes when the last holder lets go of the event. And the reads of its log that
    subscribers share (`Feed.replay`)."""

    def __init__(self) -> None:
        self._events: weakref.WeakValueDictionary[int, NumberedEvent] = (
            weakref.WeakValueDictionary()
        )
        self._kept: OrderedDict[_ReadKey, tuple[EventBatch, ...]] = OrderedDict()
        self._reading: dict[_ReadKey, asyncio.Future[tuple[EventBatch, ...] | None]] = {}

    def shared(self, events: Sequence[NumberedEvent]) -> list[NumberedEvent]:
        return [self._events.setdefault(event.seq, event) for event in events]

    async def replay(
        self, key: _ReadKey, read: Callable[[], Awaitable[Sequence[NumberedEvent]]]
    ) -> tuple[EventBatch, ...]:
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        reading = self._reading.get(key)
        if reading is not None:
            # Shielded: one subscriber that goes away must not cancel the others' read.
            batches = await asyncio.shield(reading)
            # None when that read failed or was given up: this subscriber reads for itself.
            return batches if batches is not None else self._batched(key, await read())
        done: asyncio.Future[tuple[EventBatch, ...] | None]
        done = self._reading[key] = asyncio.get_running_loop().create_future()
        batches = None
        try:
            events = await read()
            batches = self._batched(key, events)
            if len(events) == key[1]:
                self._kept[key] = batches
                if len(self._kept) > KEPT_READS:
                    self._kept.popitem(last=False)
            return batches
        finally:
            done.set_result(batches)
            del self._reading[key]

    def _batched(self, key: _ReadKey, events: Sequence[NumberedEvent]) -> tuple[EventBatch, ...]:
        shared, size = self.shared(events), key[2]
        return tuple(
            EventBatch(tuple(shared[start : start + size])) for start in range(0, len(shared), size)
        )


class _Channel:
    def __init__(self) -> None:
        self.feeds: set[Feed] = set()
        self.batchers: dict[Batching, _Batcher] = {}
        self.held = _Held()
        self.ready = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None


class EventHub:
    def __init__(self, url: str, *, feed_capacity: int = FEED_CAPACITY) -> None:
        self.url = url
        self._feed_capacity = feed_capacity
        self._broadcast = Broadcast(url)
        self._channels: dict[str, _Channel] = {}
        self.healthy = False

    async def start(self) -> None:
        await self._broadcast.connect()
        self.healthy = True
        self._watch(self._broadcast._listener_task, "broadcast listener")
        backend_listener = getattr(self._broadcast._backend, "_listener", None)
        if isinstance(backend_listener, asyncio.Task):
            self._watch(backend_listener, "broadcast backend listener")

    def _watch(self, task: asyncio.Task[Any], what: str) -> None:
        def done(finished: asyncio.Task[Any]) -> None:
            if finished.cancelled():
                return
            self.healthy = False
            logger.error(
                "%s stopped: live events now reach subscribers through the event log",
                what,
                exc_info=finished.exception(),
            )

        task.add_done_callback(done)

    async def stop(self) -> None:
        if not hasattr(self._broadcast, "_listener_task"):
            return  # never connected
        pumps = [c.pump for c in self._channels.values() if c.pump]
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        for channel in self._channels.values():
            for batcher in channel.batchers.values():
                batcher.close()
        self._channels.clear()
        with contextlib.suppress(Exception):
            await self._broadcast.disconnect()
        self.healthy = False

    async def publish(self, session_id: str, events: Sequence[StoredEvent]) -> None:
        """Tell every process of the session's events, as the log stored them; a failure is
        logged and training goes on. Once the backend has failed, subscribers read the event
        log, and publishing stops until a restart."""
        if not self.healthy:
            return
        try:
            await self._broadcast.publish(channel_of(session_id), encode(events))
        except Exception:
            self.healthy = False
            logger.exception("publishing events of session %s failed", session_id)

    @contextlib.asynccontextmanager
    async def feed(self, session_id: str, batching: Batching | None = None) -> AsyncIterator[Feed]:
        """A feed of the session's live events, subscribed before it is handed out; with
        `batching`, of the batches made for every feed that asked for the same."""
        name = channel_of(session_id)
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = _Channel()
            if self.healthy:
                channel.pump = asyncio.create_task(self._pump(session_id, channel))
        feed = Feed(self._feed_capacity, channel.held, batching)
        channel.feeds.add(feed)
        batcher = None
        if batching is not None:
            batcher = channel.batchers.get(batching)
            if batcher is None:
                batcher = channel.batchers[batching] = _Batcher(batching)
            batcher.feeds.add(feed)
        try:
            if self.healthy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(channel.ready.wait(), 5)
            yield feed
        finally:
            feed.close()
            channel.feeds.discard(feed)
            if batcher is not None:
                batcher.feeds.discard(feed)
                if not batcher.feeds and channel.batchers.get(batcher.batching) is batcher:
                    batcher.close()
                    del channel.batchers[batcher.batching]
            if not channel.feeds and self._channels.get(name) is channel:
                del self._channels[name]
                if channel.pump is not None:
                    channel.pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await channel.pump

    async def _pump(self, session_id: str, channel: _Channel) -> None:
        try:
            async with self._broadcast.subscribe(channel_of(session_id)) as subscriber:
                channel.ready.set()
                async for message in subscriber:  # type: ignore[union-attr]
                    if message is None:
                        continue
                    events = channel.held.shared(decode(session_id, message.message))
                    batch = EventBatch(tuple(events))
                    for batcher in list(channel.batchers.values()):
                        batcher.add(events)
                    for feed in list(channel.feeds):
                        if feed.batching is None:
                            feed.offer(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.healthy = False
            logger.exception("live events of session %s stopped", session_id)
