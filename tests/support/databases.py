"""The servers the tests and the benchmarks use: MariaDB and Redis on loopback, and SQLite
files. Databases are created empty and dropped after; `migrated_database` and
`emptied_engine` are what the database fixtures are made of.

Outside CI a server that is unreachable skips the test that needs it, with the reason; with
CI=true it is a failure.

Tests parametrised on a backend use its name as the parameter ("sqlite" or "mariadb" from
`BACKENDS`, "memory" or "redis" from `BROADCASTS`): the root conftest marks them `mariadb`
or `redis` by it, which is how `-m "not mariadb and not redis"` selects the rest.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import NoReturn

import pymysql
import pytest
import redis
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import Base
from models.engine import create_engine
from server import migrate

REDIS_URL = os.environ.get("CHORUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MARIADB_URL = os.environ.get("CHORUS_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "mariadb"]
BROADCASTS = ["memory", "redis"]


def unavailable(reason: str) -> NoReturn:
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


def broadcast_url_of(broadcast: str) -> str:
    """The broadcast URL for a name of `BROADCASTS`."""
    if broadcast == "redis":
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


@contextmanager
def migrated_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A database of `backend` migrated to head, dropped on exit."""
    url = fresh_database_url(backend, tmp_dir)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        drop_database(url)


@asynccontextmanager
async def emptied_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the database at `url`, every table emptied first."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
        yield engine
    finally:
        await engine.dispose()
