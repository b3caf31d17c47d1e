"""The root Subscription type."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from resolvers import progress
from resolvers.context import Info
from schema.events import TrainingEvent, to_graphql
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
        with metrics.WEBSOCKET_SUBSCRIPTIONS.track_inprogress():
            async with aclosing(progress.training_progress(info, session_id, after_seq)) as events:
                async for event in events:
                    yield to_graphql(event)
