"""Services.open, the one way the server's parts start: everything running inside it, and
nothing left running after it, on each database and each broadcast."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import ping
from server.app import create_app
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


async def test_the_start_up_log_names_the_teachers_that_write_and_why_the_others_cannot(
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHORUS_TEST_UNSET_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    keyed = 'provider = "openai"\nmodel = "m"\napi_key_env = "CHORUS_TEST_UNSET_KEY"\n'
    teachers = tmp_path / "teachers.toml"
    teachers.write_text(
        '[[teachers]]\nname = "bard"\nprovider = "offline"\nmodel = "offline/bard-1"\n'
        f'[[teachers]]\nname = "paid-a"\n{keyed}'
        f'[[teachers]]\nname = "paid-b"\n{keyed}'
        '[[teachers]]\nname = "local-llama"\nprovider = "ollama"\nmodel = "llama3.2"\n'
    )
    app = create_app(settings.model_copy(update={"teachers_file": teachers}))
    with caplog.at_level(logging.INFO, logger="chorus"):
        async with app.router.lifespan_context(app):
            pass
    lines = [record.getMessage() for record in caplog.records if record.name == "chorus"]
    assert lines[0].startswith("Chorus ready: database ")
    assert lines[0].endswith(", teachers bard")
    assert lines[1] == (
        "Teachers configured but unavailable: paid-a, paid-b (CHORUS_TEST_UNSET_KEY is not set);"
        " local-llama (OLLAMA_HOST is not set)"
    )
