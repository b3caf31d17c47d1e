"""Bringing a database to the schema this code expects, or telling how far behind it is."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from models.engine import is_mysql

MIGRATIONS_DIR = Path(migrations.__file__).parent


class SchemaBehind(RuntimeError):
    pass


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def ensure_current(engine: AsyncEngine) -> None:
    """Raise SchemaBehind, saying what to run, unless the database is at head."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"The database schema is at {current or 'nothing (empty database)'}, and this "
            f"version of Chorus needs {head}. Run `chorus migrate` with the same "
            "CHORUS_DATABASE_URL, then start the server again."
        )


async def prepare_database(engine: AsyncEngine, url: str) -> None:
    """The embedded SQLite database migrates itself; a shared MySQL one is migrated on purpose,
    with `chorus migrate`, so a server never changes it behind its operator's back."""
    if is_mysql(url):
        await ensure_current(engine)
    else:
        await upgrade(engine)
