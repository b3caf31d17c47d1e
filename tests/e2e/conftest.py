"""Fixtures of the end-to-end tests: the database a server process is started on, on each
backend, emptied before each test so that the test can add its users to it; and the
broadcast on each backend. The servers themselves are tests/support/live.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

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
