"""The trainingProgress subscriptions: the event log replayed after `afterSeq`, then live
events, each delivered exactly once and in seq order, until the session's last event.

One stream (`event_batches`) serves both: trainingProgress delivers its batches one event at
a time, trainingProgressBatches as they are. Replayed events come in batches as large as
the log read (`maxEvents` for batches); live ones as the hub's feed hands them over: each
published message, or the batches the hub makes for everyone who asked for the same
batching, passed on as the same object whenever a subscriber takes one whole.

The events are the trainer's (`trainer.events`); `schema.subscription` shows them as GraphQL
events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from models import events as event_log
from models.base import utcnow
from models.enums import SessionStatus
from models.errors import BadUserInput, NotFound
from models.history import session_by_id
from models.tables import FineTuneJob, TrainingHistory
from resolvers.context import Info
from trainer import metrics
from trainer.events import EventBatch, NumberedEvent, SessionFinished
from trainer.live import Batching

logger = logging.getLogger("chorus.live")

REPLAY_BATCH = 500
LOG_GRACE = timedelta(seconds=60)
# How long a subscriber waits on its live feed before it asks the log whether it missed
# something: a backstop for lost live messages, quicker when the broadcast is down.
IDLE_CHECK_S = 5.0
IDLE_CHECK_UNHEALTHY_S = 0.5
# Idle subscribers of one session in this process that look within this long of each other
# are given one reading of the session's status and newest event.
IDLE_SHARE_S = 1.0
DEFAULT_DELAY_MS = 100
MAX_DELAY_MS = 5000
DEFAULT_EVENTS = 500
MAX_EVENTS = 1000


async def fine_tune_job(info: Info, job_id: int) -> FineTuneJob:
    """The job a FineTuningTriggered event started."""
    job = await info.context.read_patiently(lambda db: db.get(FineTuneJob, job_id))
    if job is None:
        raise NotFound(f"Fine-tune job {job_id} no longer exists.")
    return job


async def finished_session(info: Info, session_id: str) -> TrainingHistory:
    """The session a SessionFinished event ended."""
    history = await info.context.read_patiently(lambda db: session_by_id(db, session_id))
    if history is None:
        raise NotFound(f"No training session {session_id!r}.")
    return history


_Status = tuple[TrainingHistory, NumberedEvent | None]
# By database and history id: when an idle subscriber read the session's status, and the
# reading.
_idle_readings: dict[tuple[object, int], tuple[float, asyncio.Future[_Status | None]]] = {}


class _Stream:
    """The state of one subscriber: the last seq it was given."""

    def __init__(self, info: Info, history: TrainingHistory, after_seq: int) -> None:
        self.context = info.context
        self.history_id = history.id
        self.session_id = history.session_id
        self.last = after_seq
        self.done = False

    async def from_log(self, after_seq: int, limit: int) -> list[NumberedEvent]:
        async def read(db: AsyncSession) -> list[NumberedEvent]:
            stored = await event_log.events_after(db, self.history_id, after_seq, limit)
            return [NumberedEvent.from_stored(self.session_id, event) for event in stored]

        return await self.context.read_patiently(read)

    async def status(self) -> tuple[TrainingHistory, NumberedEvent | None]:
        """The session now, and the newest event in its log."""

        async def read(db: AsyncSession) -> tuple[TrainingHistory, NumberedEvent | None]:
            history = await db.get(TrainingHistory, self.history_id)
            assert history is not None
            newest = await event_log.newest_event(db, self.history_id)
            if newest is None:
                return history, None
            return history, NumberedEvent.from_stored(self.session_id, newest)

        return await self.context.read_patiently(read)

    async def accept(self, numbered: NumberedEvent, *, from_log: bool = False) -> bool:
        """Whether to deliver `numbered`: the next in seq (or, from the log, the next there
        is); marks the stream done at its end."""
        if numbered.seq <= self.last or (numbered.seq != self.last + 1 and not from_log):
            return False
        self.last = numbered.seq
        if isinstance(numbered.event, SessionFinished):
            await self._finished(numbered.event)
        return True

    async def _finished(self, event: SessionFinished) -> None:
        if event.status is SessionStatus.INTERRUPTED:
            # A resumed session goes on after the SessionFinished of its interruption.
            history, _ = await self.status()
            self.done = history.status.is_final
        else:
            self.done = True

    async def accept_batch(self, batch: EventBatch) -> tuple[Sequence[NumberedEvent], bool]:
        """As `accept_all` for a live batch; one that follows on from the last event
        delivered, as the hub's batches for a subscriber that keeps up do, is taken whole
        without looking at each of its events."""
        if batch.first_seq == self.last + 1 and batch.follows_on():
            self.last = batch.last_seq
            last = batch.events[-1].event
            if isinstance(last, SessionFinished):
                await self._finished(last)
            return batch.events, True
        return await self.accept_all(batch.events)

    async def accept_all(
        self, events: Sequence[NumberedEvent], *, from_log: bool = False
    ) -> tuple[list[NumberedEvent], bool]:
        """The events of `events` to deliver, in order, up to the stream's end; and whether
        all that came after the last one delivered followed on without a gap."""
        accepted: list[NumberedEvent] = []
        for numbered in events:
            if numbered.seq <= self.last:
                continue
            if not await self.accept(numbered, from_log=from_log):
                return accepted, False
            accepted.append(numbered)
            if self.done:
                break
        return accepted, True

    async def missed_nothing(self, patience_s: float) -> bool:
        """Whether an idle subscriber can go on waiting live: its session is not over and its
        log holds nothing after the last event delivered. The reading is shared with the
        session's other idle subscribers (`_idle_readings`): a thousand watchers of a session
        that is quiet for a while would otherwise read the log a thousand times at once."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        fresh_s = min(IDLE_SHARE_S, patience_s)
        for stale in [k for k, (at, _) in _idle_readings.items() if now - at >= fresh_s]:
            del _idle_readings[stale]
        key = (self.context.services.db, self.history_id)
        reading = _idle_readings.get(key)
        if reading is None:
            status: asyncio.Future[_Status | None] = loop.create_future()
            _idle_readings[key] = (now, status)
            result: _Status | None = None
            try:
                result = await self.status()
            finally:
                # None to the others when this reading failed or was given up: they read.
                status.set_result(result)
                if result is None and _idle_readings.get(key, (0, None))[1] is status:
                    del _idle_readings[key]
        else:
            # Shielded: one subscriber that goes away must not cancel the others' reading.
            result = await asyncio.shield(reading[1]) or await self.status()
        history, newest = result
        return not history.status.is_final and (newest is None or newest.seq <= self.last)

    def has_everything(self, history: TrainingHistory, newest: NumberedEvent | None) -> bool:
        """Whether an ended session has nothing more for this subscriber. Its status is
        written before its SessionFinished reaches the log, so the log decides; a log that
        never got it (its writer gave up) is waited on for a grace period only."""
        if not history.status.is_final or newest is None:
            return False
        if newest.seq > self.last:
            return False
        if newest.is_last:
            return True
        ended = history.completed_at or history.updated_at
        return utcnow() - ended > LOG_GRACE


async def _watched(info: Info, session_id: str, after_seq: int | None) -> TrainingHistory:
    """The session a subscriber may watch from `after_seq`."""
    viewer = info.context.viewer
    if after_seq is not None and after_seq < 0:
        raise BadUserInput("`afterSeq` must be 0 or more.", field="afterSeq")
    history = await info.context.read_patiently(lambda db: session_by_id(db, session_id))
    if history is None or (history.user_id != viewer.id and not viewer.is_admin):
        raise NotFound(f"No training session {session_id!r}.", field="sessionId")
    return history


async def training_progress(
    info: Info, session_id: str, after_seq: int | None
) -> AsyncGenerator[EventBatch, None]:
    """The session's events, in the batches they come in; each is delivered one by one.
    The caller closes the stream. (Returned, not wrapped in a generator of its own: every
    layer of generators is paid again for every event and every subscriber.)"""
    history = await _watched(info, session_id, after_seq)
    return event_batches(info, history, after_seq or 0, REPLAY_BATCH)


async def training_progress_batches(
    info: Info,
    session_id: str,
    after_seq: int | None,
    max_delay_ms: int | None,
    max_events: int | None,
) -> AsyncGenerator[EventBatch, None]:
    """The session's events in batches: replayed ones `max_events` to a batch, live ones as
    the hub batches them for everyone who asked for the same batching. The caller closes
    the stream."""
    if max_delay_ms is None:
        max_delay_ms = DEFAULT_DELAY_MS
    if max_events is None:
        max_events = DEFAULT_EVENTS
    if not 0 <= max_delay_ms <= MAX_DELAY_MS:
        raise BadUserInput(f"`maxDelayMs` must be from 0 to {MAX_DELAY_MS}.", field="maxDelayMs")
    if not 1 <= max_events <= MAX_EVENTS:
        raise BadUserInput(f"`maxEvents` must be from 1 to {MAX_EVENTS}.", field="maxEvents")
    history = await _watched(info, session_id, after_seq)
    return event_batches(
        info, history, after_seq or 0, max_events, Batching(max_delay_ms, max_events)
    )


async def event_batches(
    info: Info,
    history: TrainingHistory,
    after_seq: int,
    replay_size: int,
    batching: Batching | None = None,
) -> AsyncGenerator[EventBatch, None]:
    """The stream both subscriptions share: every event after `after_seq` exactly once, in
    seq order, in batches of consecutive seqs; replayed ones at most `replay_size` a batch,
    live ones as the hub's feed (with `batching`, if any) hands them over."""
    hub = info.context.services.hub
    assert hub is not None, "the live event hub starts with the server"
    stream = _Stream(info, history, after_seq)
    # The log is read in large pieces whatever the batches' size, sparing the database: a
    # whole number of batches, so that only the last of a replay is short.
    read_size = replay_size * -(-REPLAY_BATCH // replay_size)
    async with hub.feed(history.session_id, batching) as feed:
        while not stream.done:
            # Live events are kept from here on, even by a feed that overflowed: the ones
            # published while the log is read are then waiting, not a gap that sends the
            # subscriber back to the log once more.
            feed.recover()
            # Catch up from the log: everything published is already there. It is read from
            # a whole number of batches after the last event delivered, the same stretches
            # whatever seq a subscriber resumed from, so that a crowd catching up shares
            # the reads and the batches (`Feed.replay`); only a subscriber's first batch
            # may be short of what it already had.
            after = stream.last - stream.last % replay_size
            batches = await feed.replay(
                after, read_size, replay_size, partial(stream.from_log, after, read_size)
            )
            for batch in batches:
                replayed, _ = await stream.accept_all(batch.events, from_log=True)
                if replayed:
                    yield (
                        batch if len(replayed) == len(batch.events) else EventBatch(tuple(replayed))
                    )
                if stream.done:
                    return
            if sum(len(batch.events) for batch in batches) == read_size:
                continue
            history, newest = await stream.status()
            if history.status.is_final and newest is None:
                # A session with no log (recorded, or pruned): its stream is its end.
                finished = SessionFinished(status=history.status)
                yield EventBatch(
                    (NumberedEvent(stream.session_id, stream.last + 1, utcnow(), finished),)
                )
                return
            if stream.has_everything(history, newest):
                return
            # Live: deliver in order; a gap or an overflow sends the subscriber to the log.
            while not stream.done and not feed.overflowed:
                patience = IDLE_CHECK_S if hub.healthy else IDLE_CHECK_UNHEALTHY_S
                arrived = await feed.take(patience)
                if not arrived:
                    if await stream.missed_nothing(patience):
                        continue
                    break
                in_order = True
                timed = False
                for batch in arrived:
                    whole = batch.first_seq == stream.last + 1
                    accepted, in_order = await stream.accept_batch(batch)
                    if accepted:
                        if not timed:
                            # What arrived together is timed by its first event, the one
                            # that waited longest: timing each event for each of a thousand
                            # subscribers cost a good part of what sending them does.
                            metrics.event_delivered(accepted[0].at)
                            timed = True
                        # Taken whole, the hub's batch object goes on, so that what is made
                        # of it is made once for every subscriber that has it.
                        shared = whole and len(accepted) == len(batch.events)
                        yield batch if shared else EventBatch(tuple(accepted))
                    if stream.done:
                        return
                    if not in_order:
                        break
                if not in_order:
                    break
