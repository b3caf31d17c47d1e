"""The live hub's feeds hand every subscriber of a session the same event objects, whether
an event arrived live or was read from the log."""

from __future__ import annotations

import asyncio
import gc

from models.base import utcnow
from models.enums import SessionStatus
from trainer.events import NumberedEvent, SessionFinished, VoteCast
from trainer.live import Batching, EventHub


async def test_events_read_from_the_log_are_the_objects_other_subscribers_hold() -> None:
    """So that an event is converted and executed once for all of them; an event nobody
    holds any more is not kept."""

    def read_from_the_log(seq: int) -> NumberedEvent:
        return NumberedEvent("s1", seq, utcnow(), VoteCast(index=0, voter="a", candidate="b"))

    hub = EventHub("memory://")
    await hub.start()
    try:
        async with hub.feed("s1") as live, hub.feed("s1") as behind:
            await hub.publish("s1", [read_from_the_log(1).stored(), read_from_the_log(2).stored()])
            arrived = [event for batch in await live.take(5) for event in batch.events]
            assert [event.seq for event in arrived] == [1, 2]
            copies = [read_from_the_log(seq) for seq in (1, 2, 3)]
            shared = behind.shared(copies)
            assert shared[0] is arrived[0]
            assert shared[1] is arrived[1]
            assert shared[2] is copies[2]
            del arrived, shared
            # Once the pump has moved on to later events, and the feeds have handed theirs
            # out, nobody holds the first ones.
            await hub.publish("s1", [read_from_the_log(3).stored()])
            await live.take(5)
            await behind.take(5)
            gc.collect()
            again = read_from_the_log(1)
            assert behind.shared([again])[0] is again
    finally:
        await hub.stop()


async def test_subscribers_asking_the_same_batching_get_the_same_batches() -> None:
    """A batch is cut at `max_events`, at a SessionFinished, and after `delay_ms`; those who
    asked for the same batching get the same objects, the others batches of their own."""

    def vote(seq: int) -> NumberedEvent:
        return NumberedEvent("s1", seq, utcnow(), VoteCast(index=0, voter="a", candidate="b"))

    finished = NumberedEvent("s1", 6, utcnow(), SessionFinished(status=SessionStatus.COMPLETED))
    hub = EventHub("memory://")
    await hub.start()
    try:
        async with (
            hub.feed("s1", Batching(60_000, 2)) as one,
            hub.feed("s1", Batching(60_000, 2)) as two,
            hub.feed("s1", Batching(10, 100)) as quick,
            hub.feed("s1") as plain,
        ):
            await hub.publish("s1", [vote(1).stored(), vote(2).stored(), vote(3).stored()])
            await hub.publish("s1", [vote(4).stored(), vote(5).stored(), finished.stored()])
            batches = await one.take(5)
            while batches[-1].last_seq < 6:
                batches += await one.take(5)
            assert [[e.seq for e in batch.events] for batch in batches] == [[1, 2], [3, 4], [5, 6]]
            assert all(a is b for a, b in zip(batches, await two.take(5), strict=True))
            # The first batch waits its 10 ms for what else comes; the SessionFinished goes at once.
            together = await quick.take(5)
            while together[-1].last_seq < 6:
                together += await quick.take(5)
            assert [e.seq for batch in together for e in batch.events] == [1, 2, 3, 4, 5, 6]
            assert len(together) <= 2
            assert [[e.seq for e in batch.events] for batch in await plain.take(5)] == [
                [1, 2, 3],
                [4, 5, 6],
            ]
    finally:
        await hub.stop()


async def test_a_wait_for_live_events_ends_after_its_own_patience() -> None:
    """Each wait gives up after the patience it was given, even when a longer wait came
    before it (a subscriber waits less once the broadcast is down), and ends at once when
    events arrive."""

    def vote(seq: int) -> NumberedEvent:
        return NumberedEvent("s1", seq, utcnow(), VoteCast(index=0, voter="a", candidate="b"))

    hub = EventHub("memory://")
    await hub.start()
    try:
        async with hub.feed("s1") as feed:
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await feed.take(0.05) == []
            assert 0.04 <= loop.time() - started < 1
            waiting = asyncio.create_task(feed.take(60))
            await hub.publish("s1", [vote(1).stored()])
            arrived = await asyncio.wait_for(waiting, 5)
            assert [event.seq for batch in arrived for event in batch.events] == [1]
            started = loop.time()
            assert await feed.take(0.05) == []
            assert loop.time() - started < 1
    finally:
        await hub.stop()


async def test_subscribers_catching_up_through_the_same_stretch_share_its_read() -> None:
    """Read once while it is read, kept when full (that stretch of the log is written), read
    again when short (more may come); the batches are the same objects for everyone; a read
    that fails leaves the others to read for themselves."""

    def vote(seq: int) -> NumberedEvent:
        return NumberedEvent("s1", seq, utcnow(), VoteCast(index=0, voter="a", candidate="b"))

    reads = 0
    log = [vote(seq) for seq in range(1, 8)]

    async def read_after(after: int, limit: int) -> list[NumberedEvent]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return [vote(event.seq) for event in log if event.seq > after][:limit]

    hub = EventHub("memory://")
    await hub.start()
    try:
        async with hub.feed("s1") as one, hub.feed("s1") as two:
            first, second = await asyncio.gather(
                one.replay(0, 4, 2, lambda: read_after(0, 4)),
                two.replay(0, 4, 2, lambda: read_after(0, 4)),
            )
            assert reads == 1
            assert first is second
            assert [[event.seq for event in batch.events] for batch in first] == [[1, 2], [3, 4]]
            assert (await one.replay(0, 4, 2, lambda: read_after(0, 4))) is first
            assert reads == 1

            tail = await one.replay(4, 4, 2, lambda: read_after(4, 4))
            assert [[event.seq for event in batch.events] for batch in tail] == [[5, 6], [7]]
            await two.replay(4, 4, 2, lambda: read_after(4, 4))
            assert reads == 3

            async def failing() -> list[NumberedEvent]:
                await asyncio.sleep(0.01)
                raise ConnectionError("the database went away")

            failed, recovered = await asyncio.gather(
                one.replay(8, 4, 2, failing),
                two.replay(8, 4, 2, lambda: read_after(8, 4)),
                return_exceptions=True,
            )
            assert isinstance(failed, ConnectionError)
            assert recovered == ()
    finally:
        await hub.stop()
