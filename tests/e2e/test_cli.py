"""The `chorus` command, run as a separate process against each backend."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymysql
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from models.engine import create_engine, session_factory
from models.enums import FineTuneStatus, SessionStatus
from models.tables import EventRow, FineTuneJob, SessionModelStats, TrainingExample, TrainingHistory
from models.users import authenticate, user_by_name
from schema import export_sdl
from tests.support.databases import (
    BACKENDS,
    MARIADB_URL,
    drop_database,
    fresh_database_url,
    mariadb_admin,
    unavailable,
)
from tests.support.factories import add_session
from tests.support.records import assert_record_agrees
from trainer.finetune import read_dataset


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


def chorus(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHORUS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def who(url: str, token: str) -> str | None:
    async def run() -> str | None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as db:
                user = await authenticate(db, token)
                return None if user is None else user.name
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_users_and_tokens(empty_url: str) -> None:
    assert chorus(empty_url, "migrate").returncode == 0

    created = chorus(empty_url, "users", "create", "alice")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"
    assert token.startswith("chorus_")
    assert who(empty_url, token) == "alice"

    again = chorus(empty_url, "users", "create", "alice")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "`chorus tokens create alice`" in again.stderr

    second = chorus(empty_url, "tokens", "create", "alice", "--label", "ci").stdout.strip()
    assert who(empty_url, second) == "alice"
    assert chorus(empty_url, "tokens", "create", "nobody").returncode == 1

    short = chorus(empty_url, "tokens", "revoke", token[:5])
    assert short.returncode == 1
    assert "at least" in short.stderr
    revoked = chorus(empty_url, "tokens", "revoke", token[:12])
    assert revoked.returncode == 0, revoked.stderr
    assert who(empty_url, token) is None
    assert who(empty_url, second) == "alice"
    assert chorus(empty_url, "tokens", "revoke", token[:12]).returncode == 1


def test_an_admin_is_created_with_the_flag(empty_url: str) -> None:
    chorus(empty_url, "migrate")
    token = chorus(empty_url, "users", "create", "root", "--admin").stdout.strip()

    async def is_admin() -> bool:
        engine = create_engine(empty_url)
        try:
            async with session_factory(engine)() as db:
                user = await authenticate(db, token)
                return bool(user and user.is_admin)
        finally:
            await engine.dispose()

    assert asyncio.run(is_admin())


def test_users_are_listed_with_their_live_tokens(empty_url: str) -> None:
    chorus(empty_url, "migrate")
    root_token = chorus(empty_url, "users", "create", "root", "--admin").stdout.strip()
    chorus(empty_url, "users", "create", "alice")
    chorus(empty_url, "tokens", "create", "alice")
    chorus(empty_url, "tokens", "revoke", root_token)

    listed = chorus(empty_url, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)
    assert [(u["name"], u["isAdmin"], u["tokens"]) for u in users] == [
        ("root", True, 0),
        ("alice", False, 2),
    ]
    assert users[0]["userId"] < users[1]["userId"]

    table = chorus(empty_url, "users", "list")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["Id", "Name", "Admin", "Live", "tokens"]
    assert lines[1].split() == [str(users[0]["userId"]), "root", "yes", "0"]
    assert lines[2].split() == [str(users[1]["userId"]), "alice", "2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.mariadb
def test_serve_refuses_a_mysql_schema_that_is_behind(tmp_path: Path) -> None:
    url = fresh_database_url("mariadb", tmp_path)
    try:
        result = chorus(url, "serve", "--port", str(free_port()), cwd=tmp_path)
        assert result.returncode == 1
        assert "chorus migrate" in result.stderr
        assert "Traceback" not in result.stderr
        assert chorus(url, "migrate").returncode == 0
    finally:
        drop_database(url)


def _mariadb_or_skip() -> None:
    try:
        mariadb_admin().close()
    except pymysql.err.OperationalError as error:
        unavailable(f"MariaDB is not reachable at {MARIADB_URL}: {error}")


def _unusable_database(problem: str) -> str:
    """A URL of the test MariaDB server that Chorus cannot use, for `problem`."""
    url = make_url(MARIADB_URL).set(query={"charset": "utf8mb4"})
    missing = f"chorus_missing_{os.urandom(4).hex()}"
    if problem == "missing database":
        return str(url.set(database=missing))
    if problem == "nothing listens":
        return str(url.set(port=free_port(), database="chorus"))
    assert problem == "unknown user"
    return str(url.set(username=f"nobody_{os.urandom(4).hex()}", password="x", database=missing))


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("problem", "advice"),
    [
        ("missing database", "CREATE DATABASE `chorus_missing_"),
        ("nothing listens", "Cannot reach the MySQL/MariaDB server"),
        ("unknown user", "CREATE USER 'nobody_"),
    ],
)
def test_an_unusable_database_is_one_line_that_says_what_to_do(
    command: str, problem: str, advice: str, tmp_path: Path
) -> None:
    _mariadb_or_skip()
    url = _unusable_database(problem)
    args = ["serve", "--port", str(free_port())] if command == "serve" else ["migrate"]
    result = chorus(url, *args, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert advice in result.stderr
    if problem == "missing database":
        assert "chorus migrate" in result.stderr
    if problem == "nothing listens":
        assert "CHORUS_DATABASE_URL" in result.stderr
    if problem == "unknown user":
        assert "GRANT ALL PRIVILEGES ON `chorus_missing_" in result.stderr


def test_serve_migrates_the_embedded_database_by_itself(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CHORUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
        "CHORUS_OFFLINE_LATENCY_MS": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "ok"}
        token = chorus(env["CHORUS_DATABASE_URL"], "users", "create", "alice").stdout.strip()
        history = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ trainingHistory { totalCount edges { cursor } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert history.json() == {"data": {"trainingHistory": {"totalCount": 0, "edges": []}}}
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert "GraphiQL" in page.text
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_train_fifty_offline_examples(empty_url: str, tmp_path: Path) -> None:
    assert chorus(empty_url, "migrate").returncode == 0
    chorus(empty_url, "users", "create", "alice")

    async def earlier_examples() -> None:
        # Alice collected 40 examples before (an external trainer's, with none stored here),
        # so this session crosses 50 and triggers a fine-tuning run.
        engine = create_engine(empty_url)
        try:
            async with session_factory(engine)() as db:
                alice = await user_by_name(db, "alice")
            await add_session(engine, alice.id, fine_tuning_examples=40)
        finally:
            await engine.dispose()

    asyncio.run(earlier_examples())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "train",
            "--user",
            "alice",
            "--examples",
            "50",
            "--genre",
            "fantasy",
            "--genre",
            "horror",
            "--save-to-database",
            "--store-in-memory",
            "--voting",
            "jury",
            "--seed",
            "11",
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "CHORUS_DATABASE_URL": empty_url,
            "CHORUS_OFFLINE_LATENCY_MS": "0",
            "CHORUS_DATA_DIR": str(tmp_path / "data"),
        },
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "50/50" in result.stderr
    assert "Wins" in result.stdout
    assert "offline-" in result.stdout

    async def check() -> None:
        engine = create_engine(empty_url)
        try:
            async with session_factory(engine)() as db:
                history = await db.scalar(
                    select(TrainingHistory).where(TrainingHistory.num_examples_requested == 50)
                )
                assert history is not None
                assert history.status is SessionStatus.COMPLETED
                assert history.num_examples_requested == 50
                assert history.stored_in_memory
                assert history.saved_to_database
                assert history.fine_tuning_triggered
                job = await db.scalar(select(FineTuneJob))
                assert job is not None
                assert job.triggered_by_session_id == history.session_id
                assert job.status is FineTuneStatus.SUCCEEDED
                assert job.dataset_path is not None
                dataset = read_dataset(Path(job.dataset_path), "dataset.jsonl")
                lines = dataset.decode().splitlines()
                assert len(lines) == job.num_examples
                # The run came at the 50th example collected, this session's 10th (the
                # earlier 40 are an external trainer's, with no text here); its dataset holds
                # what was collected when it was triggered: those examples written with it.
                collected_then = await db.scalar(
                    select(func.count()).where(
                        TrainingExample.history_id == history.id,
                        TrainingExample.final_quality >= 7.0,
                        TrainingExample.created_at <= job.created_at,
                    )
                )
                assert 10 <= len(lines) == collected_then
                events = await db.scalar(
                    select(func.count()).where(EventRow.history_id == history.id)
                )
                wins = {
                    row.model: row.wins
                    for row in await db.scalars(
                        select(SessionModelStats).where(SessionModelStats.history_id == history.id)
                    )
                }
            for model, count in wins.items():
                assert f"{model}" in result.stdout
                if count:
                    assert f" {count} " in result.stdout
            assert (events or 0) > 50 * 8
            await assert_record_agrees(engine, history.id)
        finally:
            await engine.dispose()

    asyncio.run(check())


def test_train_refuses_bad_input_and_writes_nothing(empty_url: str) -> None:
    chorus(empty_url, "migrate")
    chorus(empty_url, "users", "create", "alice")
    for args, message in (
        (["--examples", "0"], "between 1 and 1000"),
        (["--examples", "1001"], "between 1 and 1000"),
        (["--genre", "space opera"], "Unknown genre"),
        (["--teacher", "nobody"], "Unknown teacher"),
        (["--voting", "loudest"], "--voting"),
    ):
        result = chorus(empty_url, "train", "--user", "alice", *args)
        assert result.returncode == 1
        assert message in result.stderr, result.stderr
        # Errors name the option given, not the API's field, and there is no server here.
        assert args[0] in result.stderr, result.stderr
        assert "numExamples" not in result.stderr
        assert "server" not in result.stderr
    missing = chorus(empty_url, "train", "--user", "nobody")
    assert "No user named" in missing.stderr

    async def count() -> int:
        engine = create_engine(empty_url)
        try:
            async with session_factory(engine)() as db:
                return int(await db.scalar(select(func.count()).select_from(TrainingHistory)) or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == 0


def test_serve_names_a_bad_setting_or_teachers_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    bad_port = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "CHORUS_DATABASE_URL": url, "CHORUS_PORT": "99999"},
        cwd=tmp_path,
        timeout=60,
    )
    assert bad_port.returncode == 1
    assert "CHORUS_PORT" in bad_port.stderr
    assert "Traceback" not in bad_port.stderr

    teachers = tmp_path / "teachers.toml"
    teachers.write_text('[[teachers]]\nname = "x"\nprovider = "telepathy"\nmodel = "m"\n')
    bad_file = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "CHORUS_DATABASE_URL": url, "CHORUS_TEACHERS_FILE": str(teachers)},
        cwd=tmp_path,
        timeout=60,
    )
    assert bad_file.returncode == 1
    assert "telepathy" in bad_file.stderr
    assert str(teachers) in bad_file.stderr
    assert "Traceback" not in bad_file.stderr


def test_a_settled_heap_is_frozen_and_collected_less_often() -> None:
    # In a process of its own: the test process's collector is left as it is.
    probe = (
        "import gc\n"
        "from server.cli import YOUNG_GENERATION_THRESHOLD, settle_heap\n"
        "before = gc.get_threshold()\n"
        "settle_heap()\n"
        "after = gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
        "assert after == (YOUNG_GENERATION_THRESHOLD, *before[1:]), (before, after)\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_chorus_schema_prints_the_sdl() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "schema"], capture_output=True, text=True, check=True
    )
    assert result.stdout == export_sdl()
