"""The root Mutation type."""

from __future__ import annotations

import strawberry

from resolvers import recording
from resolvers.context import Info
from schema import types
from schema.inputs import TrainingSessionInput


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Store a session run by an external trainer (the original "
        "POST /api/training-history). It counts in every statistic like a trained one."
    )
    async def record_training_session(
        self, info: Info, input: TrainingSessionInput
    ) -> types.TrainingSession:
        return await recording.record_training_session(info, input)
