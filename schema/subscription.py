"""The root Subscription type."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, contextmanager

import strawberry

from resolvers import progress
from resolvers.context import Info
from schema.events import TrainingEvent, TrainingEventBatch, batch_to_graphql, to_graphql
from trainer import metrics


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Replays the session's events after afterSeq (all when null), then streams "
        "live ones, then completes."
    )
    async def training_progress(
        self, info: Info, session_id: str, after_seq: int | None = None
    ) -> AsyncGenerator[TrainingEvent, None]:
        # Closed with the subscription, so that its live feed goes at once, not when the
        # garbage collector gets to it.
        with metrics.WEBSOCKET_SUBSCRIPTIONS.track_inprogress(), _counted():
            batches = await progress.training_progress(info, session_id, after_seq)
            async with aclosing(batches):
                async for batch in batches:
                    for event in batch.events:
                        yield to_graphql(event)

    @strawberry.subscription(
        description="As trainingProgress, in batches: each holds the events with consecutive "
        "seqs that came within maxDelayMs (0 to 5000) of its first, at most maxEvents (1 to "
        "1000; null: their defaults); a SessionFinished is sent at once. Replayed events come "
        "at most maxEvents to a batch with no delay, cut at multiples of maxEvents (so the "
        "first may be shorter). Resume after a batch's lastSeq."
    )
    async def training_progress_batches(
        self,
        info: Info,
        session_id: str,
        after_seq: int | None = None,
        max_delay_ms: int | None = progress.DEFAULT_DELAY_MS,
        max_events: int | None = progress.DEFAULT_EVENTS,
    ) -> AsyncGenerator[TrainingEventBatch, None]:
        with metrics.WEBSOCKET_SUBSCRIPTIONS.track_inprogress(), _counted():
            batches = await progress.training_progress_batches(
                info, session_id, after_seq, max_delay_ms, max_events
            )
            async with aclosing(batches):
                async for batch in batches:
                    yield batch_to_graphql(batch)


@contextmanager
def _counted() -> Iterator[None]:
    """The shared results a subscription was counted for reach the metric by its end."""
    try:
        yield
    finally:
        metrics.RESULT_SHARED.flush()
