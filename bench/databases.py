"""The databases benchmarks run on: SQLite files under bench/.work, MariaDB databases named
`chorus_bench_*`, each migrated by the project's own migrations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import pymysql
import redis
from sqlalchemy.engine import make_url

from bench.procs import WORK
from models.engine import create_engine
from server import migrate
from tests.support.databases import MARIADB_URL, REDIS_URL, mariadb_admin


def mariadb_url(name: str) -> str:
    return str(make_url(MARIADB_URL).set(database=name, query={"charset": "utf8mb4"}))


def fresh_mariadb(name: str) -> str:
    """An empty database `name`, dropped first when it exists."""
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    return mariadb_url(name)


def fresh_sqlite(name: str) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (WORK / f"{name}.db{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{WORK / f'{name}.db'}"


def fresh_database(backend: str, name: str) -> str:
    return fresh_sqlite(name) if backend == "sqlite" else fresh_mariadb(name)


async def migrated(url: str) -> str:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return url


def unreachable() -> str | None:
    """Why MariaDB or Redis cannot be used, or None when both answer."""
    try:
        mariadb_admin().close()
    except pymysql.err.OperationalError as error:
        return f"MariaDB is not reachable at {MARIADB_URL}: {error}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        return f"Redis is not reachable at {REDIS_URL}: {error}"
    return None


@contextlib.asynccontextmanager
async def scratch_database(backend: str, name: str) -> AsyncIterator[str]:
    """A fresh migrated database named `name` and this process's id, so that runs from
    other checkouts on the same MariaDB never share it; dropped (or deleted) afterwards."""
    name = f"{name}_{os.getpid()}"
    url = await migrated(fresh_database(backend, name))
    try:
        yield url
    finally:
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                (WORK / f"{name}.db{suffix}").unlink(missing_ok=True)
        else:
            with mariadb_admin() as admin, admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
