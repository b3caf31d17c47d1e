"""Mutation.recordTrainingSession: a session run by an external trainer, recorded as given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.external_sessions import record_session, recorded_session
from models.tables import TrainingHistory
from models.users import owner_of
from resolvers.context import Info
from trainer.catalog import parse_genre


async def record_training_session(info: Info, given: Mapping[str, Any]) -> TrainingHistory:
    """Store `given`, the original fields by their snake_case names, for its owner."""
    context = info.context
    owner_id = context.scope(given.get("user_id"))
    record = recorded_session(given, parse_genre)
    async with context.db() as db:
        owner = await owner_of(db, owner_id)
        return await record_session(db, owner, record)
