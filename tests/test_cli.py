"""The `chorus` command, run as a separate process against each backend."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.engine import create_engine, session_factory
from models.users import authenticate
from tests.conftest import BACKENDS, drop_database, fresh_database_url


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_refuses_a_mysql_schema_that_is_behind(tmp_path: Path) -> None:
    url = fresh_database_url("mariadb", tmp_path)
    try:
        result = chorus(url, "serve", "--port", str(free_port()), cwd=tmp_path)
        assert result.returncode != 0
        assert "chorus migrate" in result.stderr
        assert chorus(url, "migrate").returncode == 0
    finally:
        drop_database(url)


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
