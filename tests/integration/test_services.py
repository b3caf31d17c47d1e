"""Services.open, the one way the server's parts start: everything running inside it, and
nothing left running after it, on each database and each broadcast."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import ping
from server.services import Services
from server.settings import Settings


async def test_open_starts_every_part_and_leaves_no_task_behind(
    engine: AsyncEngine, settings: Settings, broadcast_url: str
) -> None:
    before = asyncio.all_tasks()
    serving = settings.model_copy(update={"broadcast_url": broadcast_url})
    async with Services.open(serving) as services:
        await ping(services.engine)
        assert services.hub.healthy
        assert [teacher.name for teacher in services.manager.teachers] == [
            teacher.name for teacher in services.teachers
        ]
        # The heartbeats and recovery, the event pruner, the broadcast's listeners.
        assert asyncio.all_tasks() - before
    # Every task is stopped, or being stopped: broadcaster cancels its listener on
    # disconnecting without waiting for it.
    assert all(task.done() or task.cancelling() for task in asyncio.all_tasks() - before)
    assert not services.hub.healthy


async def test_a_process_running_its_own_sessions_starts_no_background_work(
    engine: AsyncEngine, settings: Settings
) -> None:
    before = asyncio.all_tasks()
    async with Services.open(settings, serving=False) as services:
        await ping(services.engine)
        assert services.teachers
        assert not services.hub.healthy
        assert asyncio.all_tasks() == before
    assert asyncio.all_tasks() == before
