"""What the running server holds: settings, the database, the ensemble, the live event hub
and the session manager. Built by the app factory and its lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.settings import Settings
from trainer.finetune import FineTuner
from trainer.latency import LatencyBook
from trainer.live import EventHub
from trainer.manager import SessionManager
from trainer.teachers.base import Teacher


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    teachers: list[Teacher] = field(default_factory=list)
    fine_tuner: FineTuner | None = None
    hub: EventHub | None = None
    manager: SessionManager | None = None
    latencies: LatencyBook = field(default_factory=LatencyBook)

    def running_manager(self) -> SessionManager:
        if self.manager is None:
            raise RuntimeError("the session manager starts with the server's lifespan")
        return self.manager
