"""The `chorus` command: serve, migrate, print the schema, manage users and tokens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from models.engine import create_engine, session_factory
from models.errors import ChorusError
from models.users import create_token, create_user, revoke_token, user_by_name
from server import migrate
from server.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="Chorus: ensemble auto-training for a story-writing model.", no_args_is_help=True
)
users = typer.Typer(help="Create users.", no_args_is_help=True)
tokens = typer.Typer(help="Create and revoke API tokens.", no_args_is_help=True)
app.add_typer(users, name="users")
app.add_typer(tokens, name="tokens")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _with_db(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database, at the current schema."""

    async def run() -> T:
        settings = Settings()
        engine = create_engine(settings.database_url)
        try:
            await migrate.prepare_database(engine, settings.database_url)
            async with session_factory(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ChorusError as error:
        raise _fail(error.message) from None
    except migrate.SchemaBehind as error:
        raise _fail(str(error)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (CHORUS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CHORUS_PORT).")] = None,
) -> None:
    """Serve the API, GraphiQL and the dashboard."""
    import uvicorn

    from server.app import create_app
    from server.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        ws_ping_interval=20,
    )


@app.command("migrate")
def migrate_database() -> None:
    """Upgrade the database to the schema this version needs."""

    async def run() -> str | None:
        engine = create_engine(Settings().database_url)
        try:
            await migrate.upgrade(engine)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    typer.echo(f"database at revision {revision}")


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import export_sdl

    sys.stdout.write(export_sdl())


@users.command("create")
def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="May read every user's data.")] = False,
) -> None:
    """Create a user and print its first token (alone on stdout)."""

    async def work(db: AsyncSession) -> str:
        user = await create_user(db, name, is_admin=admin)
        return await create_token(db, user, label="first token")

    typer.echo(_with_db(work))


@tokens.command("create")
def tokens_create(
    name: str, label: Annotated[str | None, typer.Option(help="What the token is for.")] = None
) -> None:
    """Create another token for a user and print it."""

    async def work(db: AsyncSession) -> str:
        return await create_token(db, await user_by_name(db, name), label=label)

    typer.echo(_with_db(work))


@tokens.command("revoke")
def tokens_revoke(token_prefix: str) -> None:
    """Revoke the token that starts with TOKEN_PREFIX (at least 10 characters)."""

    async def work(db: AsyncSession) -> str:
        token = await revoke_token(db, token_prefix)
        return token.token_prefix

    typer.echo(f"revoked {_with_db(work)}…", err=True)


if __name__ == "__main__":
    app()
