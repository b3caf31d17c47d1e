"""The `chorus` command: serve, run a worker, migrate, print the schema, manage users and
tokens."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from models.engine import create_engine, is_mysql, ping, session_factory
from models.errors import BadUserInput, ChorusError
from models.tables import User
from models.users import (
    create_token,
    create_user,
    revoke_token,
    user_by_name,
    users_with_token_counts,
)
from server import migrate
from server.database_problems import database_problem
from server.settings import Settings, SettingsError, load_settings
from trainer.teachers.ensemble import load_teacher_configs

T = TypeVar("T")
YOUNG_GENERATION_THRESHOLD = 10_000
# Seconds an API process keeps an idle HTTP keep-alive connection open.
KEEP_ALIVE_S = 75
# The option of `chorus train` behind each field a training request's errors name.
TRAIN_OPTIONS = {
    "numExamples": "--examples",
    "teachers": "--teacher",
    "genres": "--genre",
    "seed": "--seed",
    "maxCostUsd": "--max-cost",
}

# Plain help, each value named by what it is (`--examples N`), where Typer's panels would show
# Python types (`<int>`, and `<bool>` beside every flag).
app = typer.Typer(
    help="Chorus: ensemble auto-training for a story-writing model.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
users = typer.Typer(help="Create and list users.", no_args_is_help=True, rich_markup_mode=None)
tokens = typer.Typer(
    help="Create and revoke API tokens.", no_args_is_help=True, rich_markup_mode=None
)
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


@contextlib.contextmanager
def _one_line_errors(settings: Settings) -> Iterator[None]:
    """A mistake in the request, the settings or the database, as one line on stderr and exit
    code 1, where it would be a traceback."""
    try:
        yield
    except ChorusError as error:
        raise _fail(error.message) from None
    except migrate.SchemaBehind as error:
        raise _fail(str(error)) from None
    except DBAPIError as error:
        raise _fail(database_problem(error, settings.database_url)) from None
    except ArgumentError as error:
        raise _fail(f"CHORUS_DATABASE_URL: {error}") from None


async def _check_database(settings: Settings) -> None:
    """The database must answer, and a MySQL schema be current, before serving; SQLite is
    migrated at start."""
    engine = create_engine(settings.database_url)
    try:
        if is_mysql(settings.database_url):
            await migrate.ensure_current(engine)
        else:
            await ping(engine)
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

    with _one_line_errors(settings):
        return asyncio.run(run())


def _check_startup(settings: Settings) -> None:
    """Checked before starting so that a mistake is one clear line, not a failed startup's
    traceback."""
    with _one_line_errors(settings):
        load_teacher_configs(settings.teachers_file, os.environ)
        asyncio.run(_check_database(settings))


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (CHORUS_HOST).", metavar="ADDRESS")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (CHORUS_PORT).", metavar="PORT")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            help="API processes to run on the one port; more than one needs "
            "CHORUS_BROADCAST_URL on Redis.",
        ),
    ] = 1,
) -> None:
    """Serve the API, GraphiQL and the dashboard. With CHORUS_QUEUE_URL=memory:// (the
    default) each process also runs sessions; on Redis, `chorus worker` processes do."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from server.metrics import metrics_port_problem, prepare_multiprocess

    if host is not None:
        # Every API process reads it, and the metrics port listens there too, unless
        # CHORUS_METRICS_HOST says otherwise.
        os.environ["CHORUS_HOST"] = host
    settings = _settings()
    if workers > 1 and settings.broadcast_url == "memory://":
        raise _fail(
            "--workers runs several API processes, which share live events only over Redis: "
            "set CHORUS_BROADCAST_URL=redis://host:6379/0."
        )
    _check_startup(settings)
    if settings.api_nice:
        # Before uvicorn starts its processes, which inherit it.
        os.nice(settings.api_nice)
    prepare_multiprocess(processes=workers)
    problem = metrics_port_problem(settings)
    if problem is not None:
        raise _fail(problem)
    served: dict[str, Any] = {
        "host": settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        # Uvicorn's own lines (start-up, access) go through the JSON formatter too.
        "log_config": None if settings.log_format == "json" else LOGGING_CONFIG,
        "ws_ping_interval": 20,
        # An idle keep-alive connection is kept longer than clients keep theirs (httpx and
        # Node close theirs after 5 s, load balancers after 60): with uvicorn's 5 s, a client
        # reusing its connection as the server closes it lost its request to a reset.
        "timeout_keep_alive": KEEP_ALIVE_S,
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
    configure_logging(settings.log_level, settings.log_format)
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
    from server.metrics import prepare_multiprocess
    from server.workers import run_worker

    settings = _settings()
    if settings.embedded_worker:
        raise _fail(
            "`chorus worker` takes sessions from a queue on Redis: set "
            "CHORUS_QUEUE_URL=redis://host:6379/0 (and CHORUS_BROADCAST_URL to a redis:// URL). "
            "With the in-process queue, `chorus serve` runs sessions itself."
        )
    _check_startup(settings)
    prepare_multiprocess(processes=1)
    configure_logging(settings.log_level, settings.log_format)
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

    with _one_line_errors(settings):
        revision = asyncio.run(run())
    typer.echo(f"database at revision {revision}")


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import export_sdl

    sys.stdout.write(export_sdl())


@app.command()
def train(
    user: Annotated[str, typer.Option(help="Name of the user the session is for.", metavar="NAME")],
    examples: Annotated[int, typer.Option(help="How many examples, 1 to 1000.", metavar="N")] = 10,
    genre: Annotated[
        list[str] | None,
        typer.Option(help="A genre to train on (repeat); none: all 25.", metavar="GENRE"),
    ] = None,
    teacher: Annotated[
        list[str] | None,
        typer.Option(help="A teacher to use (repeat); none: every available.", metavar="NAME"),
    ] = None,
    voting: Annotated[
        str, typer.Option(help="jury, consensus or quality.", metavar="STRATEGY")
    ] = "jury",
    seed: Annotated[
        int | None, typer.Option(help="Makes the sampling reproducible.", metavar="N")
    ] = None,
    save_to_database: Annotated[
        bool, typer.Option("--save-to-database", help="Save stories of quality 8.0 or more.")
    ] = False,
    store_in_memory: Annotated[
        bool, typer.Option("--store-in-memory", help="Remember examples of quality 7.0 or more.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            help="A budget in US dollars: no example starts whose projected cost would pass "
            "it. Every teacher needs a price in the teachers file."
        ),
    ] = None,
) -> None:
    """Run a training session here.

    A live progress bar goes to stderr; then the session's outcome and model-performance table
    are printed. The session is recorded like one started through the API."""
    from models.enums import VotingStrategy
    from server.training_cli import run_training
    from trainer.catalog import parse_genre

    try:
        strategy = VotingStrategy[voting.upper()]
    except KeyError:
        raise _fail(f"--voting must be jury, consensus or quality; got {voting!r}.") from None
    try:
        genres = [parse_genre(name) for name in genre or []]
    except BadUserInput as error:
        raise _fail(f"--genre: {error.message}") from None
    settings = _settings()
    settle_heap()
    with _one_line_errors(settings):
        try:
            asyncio.run(
                run_training(
                    settings,
                    user,
                    examples,
                    genres,
                    teacher,
                    strategy,
                    seed,
                    save_to_database,
                    store_in_memory,
                    max_cost,
                    console=Console(stderr=True),
                    out=Console(),
                )
            )
        except BadUserInput as error:
            option = TRAIN_OPTIONS.get(error.field or "")
            raise _fail(f"{option}: {error.message}" if option else error.message) from None


@users.command("create")
def users_create(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)],
    admin: Annotated[bool, typer.Option("--admin", help="May read every user's data.")] = False,
) -> None:
    """Create the user NAME and print its first token (alone on stdout)."""

    async def work(db: AsyncSession) -> str:
        user = await create_user(db, name, is_admin=admin)
        return await create_token(db, user, label="first token")

    typer.echo(_with_db(work))


@users.command("list")
def users_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array, for scripts and other programs.")
    ] = False,
) -> None:
    """List the users.

    Each with its id, name, whether it is an admin, and how many live tokens it has."""

    async def work(db: AsyncSession) -> Sequence[tuple[User, int]]:
        return await users_with_token_counts(db)

    listed = _with_db(work)
    if as_json:
        rows = [
            {"userId": user.id, "name": user.name, "isAdmin": user.is_admin, "tokens": tokens}
            for user, tokens in listed
        ]
        typer.echo(json.dumps(rows))
        return
    table = Table(box=None)
    table.add_column("Id", justify="right")
    table.add_column("Name")
    table.add_column("Admin")
    table.add_column("Live tokens", justify="right")
    for user, tokens in listed:
        table.add_row(str(user.id), user.name, "yes" if user.is_admin else "", str(tokens))
    Console().print(table)


@tokens.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)],
    label: Annotated[
        str | None, typer.Option(help="What the token is for.", metavar="TEXT")
    ] = None,
) -> None:
    """Create another token for the user NAME and print it."""

    async def work(db: AsyncSession) -> str:
        return await create_token(db, await user_by_name(db, name), label=label)

    typer.echo(_with_db(work))


@tokens.command("revoke")
def tokens_revoke(
    token_prefix: Annotated[str, typer.Argument(metavar="TOKEN_PREFIX", hidden=True)],
) -> None:
    """Revoke the token that starts with TOKEN_PREFIX (at least 10 characters)."""

    async def work(db: AsyncSession) -> str:
        token = await revoke_token(db, token_prefix)
        return token.token_prefix

    typer.echo(f"revoked {_with_db(work)}…", err=True)


if __name__ == "__main__":
    app()
