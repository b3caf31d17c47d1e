"""The live hub's feeds hand every subscriber of a session the same event objects, whether
an event arrived live or was read from the log."""

from __future__ import annotations

import gc

from models.base import utcnow
from trainer.events import NumberedEvent, VoteCast
from trainer.live import EventHub


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
            arrived = await live.take(5)
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
