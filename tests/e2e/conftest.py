"""Fixtures of the end-to-end tests: the database a server process is started on, on each
backend, emptied before each test so that the test can add its users to it; and the
broadcast on each backend; Node.js with the JavaScript example's packages. The servers
themselves are tests/support/live.py's."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.databases import (
    BACKENDS,
    BROADCASTS,
    broadcast_url_of,
    emptied_engine,
    migrated_database,
    unavailable,
)

JAVASCRIPT_EXAMPLE = Path(__file__).resolve().parents[2] / "client-examples" / "javascript"


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


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with the JavaScript example's packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("Node.js and npm are not installed, so the JavaScript example cannot run")
    assert node is not None
    assert npm is not None
    if not (JAVASCRIPT_EXAMPLE / "node_modules" / "graphql-ws").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JAVASCRIPT_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            unavailable(f"`npm ci` failed in {JAVASCRIPT_EXAMPLE}:\n{installed.stderr}")
    return node
