"""The root Mutation type."""

from __future__ import annotations

import strawberry

from resolvers import external_sessions, training
from resolvers.context import Info
from schema import convert, types
from schema.inputs import StartTrainingInput, TrainingSessionInput


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Validates, records the session and starts it in the background; returns "
        "at once (QUEUED while the user already runs their maximum of sessions)."
    )
    async def start_training(self, info: Info, input: StartTrainingInput) -> types.TrainingSession:
        row = await training.start_training(
            info,
            num_examples=input.num_examples,
            genres=input.genres,
            teachers=input.teachers,
            voting=input.voting,
            seed=input.seed,
            store_in_memory=input.store_in_memory,
            save_to_database=input.save_to_database,
            max_cost_usd=input.max_cost_usd,
        )
        return convert.session(row)

    @strawberry.mutation(
        description="Stops a session: calls in flight are cancelled, finished examples are kept, "
        "and it ends CANCELLED."
    )
    async def cancel_training(self, info: Info, session_id: str) -> types.TrainingSession:
        return convert.session(await training.cancel_training(info, session_id))

    @strawberry.mutation(
        description="Continues an INTERRUPTED session with its remaining examples, as the same "
        "session."
    )
    async def resume_training(self, info: Info, session_id: str) -> types.TrainingSession:
        return convert.session(await training.resume_training(info, session_id))

    @strawberry.mutation(
        description="Store a session run by an external trainer (the original "
        "POST /api/training-history). It counts in every statistic like a trained one."
    )
    async def record_training_session(
        self, info: Info, input: TrainingSessionInput
    ) -> types.TrainingSession:
        row = await external_sessions.record_training_session(info, vars(input))
        return convert.session(row)
