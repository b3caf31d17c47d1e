"""Fixtures of the integration tests: a migrated database on each backend, the broadcast on
each backend, and the app over real ASGI.

Every database test runs once on SQLite and once on MariaDB, every broadcast test once in
memory and once over Redis (tests/support/databases.py says what happens when a server is
unreachable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from models.engine import session_factory
from server.app import create_app
from server.settings import Settings
from tests.support.databases import (
    BACKENDS,
    BROADCASTS,
    broadcast_url_of,
    emptied_engine,
    migrated_database,
)


@pytest.fixture(params=BROADCASTS)
def broadcast_url(request: pytest.FixtureRequest) -> str:
    return broadcast_url_of(request.param)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, one per backend for the whole run."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The session's database, emptied before the test."""
    async with emptied_engine(database_url) as engine:
        yield engine


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        offline_latency_ms=0,
        data_dir=tmp_path / "data",
        dashboard_dir=tmp_path / "no-dashboard",
        _env_file=None,
    )


@pytest.fixture
async def app(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Starlette]:
    """The real application with its lifespan running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
        yield http
