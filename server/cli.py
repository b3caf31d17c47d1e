"""The `chorus` command: serve, run a worker, migrate, print the schema, manage users and
tokens."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from models.engine import create_engine, is_mysql, session_factory
from models.errors import ChorusError
from models.users import create_token, create_user, revoke_token, user_by_name
from server import migrate
from server.settings import Settings, SettingsError, load_settings
from trainer.teachers.ensemble import load_teacher_configs

T = TypeVar("T")
YOUNG_GENERATION_THRESHOLD = 10_000

app = typer.Typer(
    help="Chorus: ensemble auto-training for a story-writing model.", no_args_is_help=True
)
users = typer.Typer(help="Create users.", no_args_is_help=True)
tokens = typer.Typer(help="Create and revoke API tokens.", no_args_is_help=True)
app.add_typer(users, name="users")
app.add_typer(tokens, name="tokens")


def settle_heap() -> None:
    """Tune the garbage collector for a long-running process, once it has loaded.

    What is loaded by now (modules, the schema, the app) lives as long as the process:
    frozen, collections stop scanning it. Training allocates containers by the thousand a
    second, nearly all freed by reference counting; at the default threshold of 700 the
    collector ran hundreds of times a session and took about a tenth of the trainer's CPU
    (bench/README.md), so the youngest generation is collected less often.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise _fail(str(error)) from None


async def _check_schema(settings: Settings) -> None:
    """A MySQL schema must be current before serving; SQLite is migrated at start."""
    if is_mysql(settings.database_url):
        engine = create_engine(settings.database_url)
        try:
            await migrate.ensure_current(engine)
        finally:
            await engine.dispose()


def _with_db(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database, at the current schema."""

    settings = _settings()

    async def run() -> T:
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


def _check_startup(settings: Settings) -> None:
    """Checked before starting so that a mistake is one clear line, not a failed startup's
    traceback."""
    try:
        load_teacher_configs(settings.teachers_file, os.environ)
        asyncio.run(_check_schema(settings))
    except ChorusError as error:
        raise _fail(error.message) from None
    except migrate.SchemaBehind as error:
        raise _fail(str(error)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (CHORUS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CHORUS_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes to run on the one port; more than one needs "
            "CHORUS_BROADCAST_URL on Redis.",
        ),
    ] = 1,
) -> None:
    """Serve the API, GraphiQL and the dashboard. With CHORUS_QUEUE_URL=memory:// (the
    default) each process also runs sessions; on Redis, `chorus worker` processes do."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.broadcast_url == "memory://":
        raise _fail(
            "--workers runs several API processes, which share live events only over Redis: "
            "set CHORUS_BROADCAST_URL=redis://host:6379/0."
        )
    _check_startup(settings)
    served: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        "ws_ping_interval": 20,
        # Events are small JSON; compressing each frame costs more CPU than it saves bytes.
        "ws_per_message_deflate": False,
    }
    if workers > 1:
        # uvicorn's process manager starts each process from the factory, and restarts
        # one that dies.
        uvicorn.run("server.cli:api_process_app", factory=True, workers=workers, **served)
    else:
        uvicorn.run(api_process_app(settings), **served)


def api_process_app(settings: Settings | None = None) -> Starlette:
    """One API process's app, its logging set up and its heap settled."""
    from server.app import create_app
    from server.logs import configure_logging

    settings = settings or load_settings()
    configure_logging(settings.log_level)
    application = create_app(settings)
    settle_heap()
    return application


@app.command()
def worker(
    no_takeover: Annotated[
        bool,
        typer.Option(
            "--no-takeover",
            help="On stopping, end the sessions running here INTERRUPTED instead of handing "
            "them back to the other workers.",
        ),
    ] = False,
) -> None:
    """Run training sessions from the queue on Redis (CHORUS_QUEUE_URL) until SIGTERM or
    SIGINT; then hand back the ones running here, within CHORUS_WORKER_SHUTDOWN_S."""
    import uvloop

    from server.logs import configure_logging
    from server.workers import run_worker

    settings = _settings()
    if settings.embedded_worker:
        raise _fail(
            "`chorus worker` takes sessions from a queue on Redis: set "
            "CHORUS_QUEUE_URL=redis://host:6379/0 (and CHORUS_BROADCAST_URL to a redis:// URL). "
            "With the in-process queue, `chorus serve` runs sessions itself."
        )
    _check_startup(settings)
    configure_logging(settings.log_level)
    settle_heap()
    uvloop.run(run_worker(settings, hand_back=not no_takeover))


@app.command("migrate")
def migrate_database() -> None:
    """Upgrade the database to the schema this version needs."""

    settings = _settings()

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
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


@app.command()
def train(
    user: Annotated[str, typer.Option(help="Name of the user the session is for.")],
    examples: Annotated[int, typer.Option(help="How many examples, 1 to 1000.")] = 10,
    genre: Annotated[
        list[str] | None, typer.Option(help="A genre to train on (repeat); none: all 25.")
    ] = None,
    teacher: Annotated[
        list[str] | None, typer.Option(help="A teacher to use (repeat); none: every available.")
    ] = None,
    voting: Annotated[str, typer.Option(help="jury, consensus or quality.")] = "jury",
    seed: Annotated[int | None, typer.Option(help="Makes the sampling reproducible.")] = None,
    save_to_database: Annotated[
        bool, typer.Option("--save-to-database", help="Save stories of quality 8.0 or more.")
    ] = False,
    store_in_memory: Annotated[
        bool, typer.Option("--store-in-memory", help="Remember examples of quality 7.0 or more.")
    ] = False,
) -> None:
    """Run a training session here, with a live progress bar on stderr, then print the
    session's model-performance table."""
    from rich.console import Console

    from models.enums import VotingStrategy
    from models.errors import BadUserInput
    from server.training_cli import run_training
    from trainer.catalog import parse_genre

    try:
        strategy = VotingStrategy[voting.upper()]
    except KeyError:
        raise _fail(f"--voting must be jury, consensus or quality; got {voting!r}.") from None
    try:
        genres = [parse_genre(name) for name in genre or []]
    except BadUserInput as error:
        raise _fail(error.message) from None
    settle_heap()
    try:
        asyncio.run(
            run_training(
                user,
                examples,
                genres,
                teacher,
                strategy,
                seed,
                save_to_database,
                store_in_memory,
                console=Console(stderr=True),
                out=Console(),
            )
        )
    except ChorusError as error:
        raise _fail(error.message) from None
    except migrate.SchemaBehind as error:
        raise _fail(str(error)) from None


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
