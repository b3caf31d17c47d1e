"""Shared fixtures: a migrated database on each backend, and the app over real ASGI.

Every database test runs once on SQLite and once on MariaDB. Outside CI a backend whose
server is unreachable is skipped with the reason; with CI=true it is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pymysql
import pytest
import redis
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from models.base import Base
from models.engine import create_engine, session_factory
from server import migrate
from server.app import create_app
from server.settings import Settings

REDIS_URL = os.environ.get("CHORUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MARIADB_URL = os.environ.get("CHORUS_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "mariadb"]


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI, where every server must be up."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: no test may skip for a missing server)")
    pytest.skip(reason)


def redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def require_redis() -> None:
    if not redis_reachable():
        unavailable(f"Redis is not reachable at {REDIS_URL}")


@pytest.fixture(params=["memory", "redis"])
def broadcast_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        require_redis()
        return REDIS_URL
    return "memory://"


def mariadb_admin(database: str | None = None) -> pymysql.connections.Connection:
    """A plain connection to the test MariaDB server, for creating and dropping databases
    (and, in the benchmarks, loading them)."""
    url = make_url(MARIADB_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        autocommit=True,
        local_infile=True,
    )


def _create_mariadb_database() -> str:
    name = f"chorus_test_{uuid.uuid4().hex[:12]}"
    try:
        connection = mariadb_admin()
    except pymysql.err.OperationalError as error:
        unavailable(f"MariaDB is not reachable at {MARIADB_URL}: {error}")
    with connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    return str(make_url(MARIADB_URL).set(database=name, query={"charset": "utf8mb4"}))


def _drop_mariadb_database(url: str) -> None:
    name = make_url(url).database
    with mariadb_admin() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def fresh_database_url(backend: str, tmp_dir: Path) -> str:
    """An empty database of `backend`; the caller drops it with `drop_database`."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_dir / f'chorus-{uuid.uuid4().hex[:8]}.db'}"
    return _create_mariadb_database()


def drop_database(url: str) -> None:
    if url.startswith("mysql"):
        _drop_mariadb_database(url)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, one per backend for the whole run."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("db"))
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The session's database, emptied before the test."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
    yield engine
    await engine.dispose()


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
