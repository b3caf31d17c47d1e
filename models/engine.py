"""The async engine and session factory for the configured database."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_mysql(url: str) -> bool:
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def on_sqlite(db: AsyncSession) -> bool:
    """Whether the session's database is SQLite (else MySQL/MariaDB)."""
    return db.get_bind().dialect.name == "sqlite"


def json_text(value: Any) -> str:
    """`value` as compact JSON text: how JSON columns and broadcast messages are written.

    orjson, not the json module: a session writes 17 event payloads per example, and each
    is encoded for the event log and again for the broadcast."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> AsyncEngine:
    """An engine tuned for its backend, with a pool of `pool_size` (and as many again in
    overflow) when given: a worker's own, sized to its sessions.

    MySQL/MariaDB close idle connections (wait_timeout), so connections are checked before use
    and recycled well within it. SQLite gets foreign keys, WAL (readers do not block the
    trainer's writes) and a busy timeout instead of immediate "database is locked" errors.
    """
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": json_text,
        "json_deserializer": orjson.loads,
    }
    if is_mysql(url):
        options.update(pool_pre_ping=True, pool_recycle=1800, pool_size=10, max_overflow=20)
    in_memory = make_url(url).database in (None, "", ":memory:")
    if pool_size is not None and not (url.startswith("sqlite") and in_memory):
        options.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        pragmas = ["foreign_keys=ON", "busy_timeout=30000"]
        if not in_memory:
            pragmas += ["journal_mode=WAL", "synchronous=NORMAL"]

        def configure(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        event.listen(engine.sync_engine, "connect", configure)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers: whether the server is ready to serve."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
