"""What the running server holds: settings, the database, the ensemble. Built by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.settings import Settings
from trainer.teachers.base import Teacher


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    teachers: list[Teacher] = field(default_factory=list)
