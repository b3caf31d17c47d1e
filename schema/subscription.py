"""The root Subscription type."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import progress
from resolvers.context import Info
from schema.events import TrainingEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Replays the session's events after afterSeq (all when null), then streams "
        "live ones, then completes."
    )
    def training_progress(
        self, info: Info, session_id: str, after_seq: int | None = None
    ) -> AsyncGenerator[TrainingEvent, None]:
        # The resolver's own generator, not one wrapped around it: one hop less per event.
        return progress.training_progress(info, session_id, after_seq)
