"""The web dashboard, and the GraphiQL built with it, in a real browser.

Runs the Node scenarios in `client-examples/dashboard/e2e/` with headless Chromium against a
real server: for the dashboard, two users and a history recorded through the REST API before
the browser opens, on SQLite with the in-memory broadcast and on MariaDB with Redis (its live
view follows batches of events: live, replayed and resumed after a dropped socket); for
GraphiQL, a query and a subscription with every request off this machine refused. They need
the built dashboard (`make dashboard`), Node.js with the dashboard's packages, and Chromium;
outside CI a missing one skips the test with the reason, with CI=true it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.support.databases import broadcast_url_of, migrated_database, unavailable

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "client-examples" / "dashboard"
SCENARIO = "e2e/dashboard.test.mjs"
GRAPHIQL_SCENARIO = "e2e/graphiql.test.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FILTER_GENRE = "HORROR"


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str


@dataclass(frozen=True)
class PastSession:
    days_ago: int
    genres: list[str]
    requested: int
    successful: int
    quality: tuple[float, float, float]
    wins: dict[str, tuple[int, float]]
    distribution: dict[str, int]
    collected_before: int
    collected_after: int


# 48 examples collected toward fine-tuning: the scenario's ten-example session crosses 50.
PAST_SESSIONS = [
    PastSession(
        3,
        ["fantasy", "mystery"],
        20,
        18,
        (7.1, 8.4, 9.6),
        {"offline-bard": (8, 8.9), "offline-painter": (6, 8.2), "offline-minimalist": (4, 7.8)},
        {"fantasy": 10, "mystery": 8},
        0,
        18,
    ),
    PastSession(
        2,
        ["horror"],
        15,
        15,
        (7.0, 7.6, 8.3),
        {"offline-dramatist": (9, 7.8), "offline-bard": (6, 7.3)},
        {"horror": 15},
        18,
        33,
    ),
    PastSession(
        1,
        ["sci-fi", "western"],
        15,
        15,
        (8.1, 8.9, 9.4),
        {"offline-chronicler": (9, 9.1), "offline-painter": (6, 8.6)},
        {"sci-fi": 9, "western": 6},
        33,
        48,
    ),
]


def _missing_prerequisite() -> str | None:
    """Why the browser scenario cannot run here, or None when it can."""
    if not (DASHBOARD / "dist" / "index.html").is_file():
        return "the dashboard is not built: run `make dashboard` (it needs Node.js 20.19+)"
    if shutil.which("node") is None:
        return "Node.js is not installed, so the browser scenario cannot run"
    if not (DASHBOARD / "node_modules" / "playwright-core").is_dir():
        return "the dashboard's packages are missing: run `npm ci` in client-examples/dashboard"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`"
    return None


@pytest.fixture
def prerequisites() -> None:
    reason = _missing_prerequisite()
    if reason is not None:
        unavailable(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chorus(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CHORUS_DATABASE_URL": database_url},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def backend() -> str:
    """The database `server` runs on; a test parametrised on `backend` chooses another."""
    return "sqlite"


@pytest.fixture
def broadcast() -> str:
    """The broadcast `server` publishes live events through; a test may choose another."""
    return "memory"


@pytest.fixture
def empty_database(tmp_path: Path, backend: str) -> Iterator[str]:
    """A database of `backend` of the test's own, migrated and empty."""
    with migrated_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def server(tmp_path: Path, empty_database: str, broadcast: str) -> Iterator[Server]:
    port = _free_port()
    database_url = empty_database
    env = {
        **os.environ,
        "CHORUS_DATABASE_URL": database_url,
        "CHORUS_BROADCAST_URL": broadcast_url_of(broadcast),
        "CHORUS_OFFLINE_LATENCY_MS": "20",
        # An example at a time: a session lasts long enough for its stream to be cut midway.
        "CHORUS_MAX_CONCURRENT_EXAMPLES": "1",
        "CHORUS_DASHBOARD_DIR": str(DASHBOARD / "dist"),
        "CHORUS_DATA_DIR": str(tmp_path / "data"),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the server did not start:\n" + log_path.read_text()
            time.sleep(0.2)
        yield Server(url, database_url)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _record(url: str, token: str, past: PastSession) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=past.days_ago, hours=2)
    seconds = past.requested * 16
    low, average, high = past.quality
    wins = {model: {"count": count, "avg_quality": q} for model, (count, q) in past.wins.items()}
    best = max(past.wins, key=lambda model: past.wins[model][0])
    body: dict[str, Any] = {
        "sessionId": os.urandom(16).hex(),
        "numExamplesRequested": past.requested,
        "numExamplesSuccessful": past.successful,
        "numExamplesFailed": past.requested - past.successful,
        "genresSelected": past.genres,
        "savedToDatabase": True,
        "storiesSavedCount": past.successful // 3,
        "averageQuality": average,
        "minQuality": low,
        "maxQuality": high,
        "bestPerformingModel": best,
        "modelPerformanceJson": json.dumps(wins),
        "genreDistributionJson": json.dumps(past.distribution),
        "totalTimeSeconds": seconds,
        "trainingExamplesBefore": past.collected_before,
        "trainingExamplesAfter": past.collected_after,
        "finetuningTriggered": False,
        "startedAt": started.isoformat(),
        "completedAt": (started + timedelta(seconds=seconds)).isoformat(),
    }
    response = httpx.post(
        f"{url}/api/training-history",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("backend", "broadcast"), [("sqlite", "memory"), ("mariadb", "redis")])
def test_the_dashboard_in_a_browser(prerequisites: None, server: Server) -> None:
    alice = _chorus(server.database_url, "users", "create", "alice")
    bob = _chorus(server.database_url, "users", "create", "bob")
    for past in PAST_SESSIONS:
        _record(server.url, alice, past)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", SCENARIO],
        cwd=DASHBOARD,
        env={
            **os.environ,
            "CHORUS_URL": server.url,
            "CHORUS_TOKEN": alice,
            "CHORUS_OTHER_TOKEN": bob,
            "CHORUS_FILTER_GENRE": FILTER_GENRE,
            "CHORUS_ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": str(CHROMIUM),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"the browser scenario failed; screenshots are in {ARTIFACTS}\n"
        f"{result.stdout}\n{result.stderr}"
    )


def test_graphiql_works_offline_in_a_browser(prerequisites: None, server: Server) -> None:
    alice = _chorus(server.database_url, "users", "create", "alice")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", GRAPHIQL_SCENARIO],
        cwd=DASHBOARD,
        env={
            **os.environ,
            "CHORUS_URL": server.url,
            "CHORUS_TOKEN": alice,
            "CHORUS_ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": str(CHROMIUM),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"the GraphiQL scenario failed; screenshots are in {ARTIFACTS}\n"
        f"{result.stdout}\n{result.stderr}"
    )


async def _browser_page_at_graphql(settings: Settings) -> str:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://chorus.test") as http:
            response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_graphql_serves_the_built_graphiql_else_strawberrys(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'chorus.db'}",
        dashboard_dir=tmp_path / "dist",
        data_dir=tmp_path / "data",
        _env_file=None,
    )
    # Without a built dashboard, Strawberry's page, which loads GraphiQL from a CDN.
    assert "unpkg.com" in await _browser_page_at_graphql(settings)

    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>Chorus</title>")
    page = '<!doctype html><title>GraphiQL</title><script src="/assets/graphiql.js"></script>'
    (built / "graphiql.html").write_text(page)
    assert await _browser_page_at_graphql(settings) == page
