"""The server's logs: with CHORUS_LOG_FORMAT=json, one JSON object a line, each naming the
request, user and training session it is about."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.logs import JsonFormatter
from trainer import log_context


def test_a_json_line_has_the_ids_in_context_and_the_exception_as_a_field() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("chorus.test-json-lines")
    logger.addHandler(handler)
    logger.propagate = False

    def log_in_a_session() -> None:
        log_context.request_id.set("started-it")
        log_context.bind_session("abc123", 7)
        logger.warning("plain %s", "words")
        try:
            raise ValueError("no good")
        except ValueError:
            logger.exception("it broke")

    try:
        # In a context of its own, as a session's task would be.
        contextvars.copy_context().run(log_in_a_session)
    finally:
        logger.removeHandler(handler)
    plain, broken = (json.loads(line) for line in stream.getvalue().splitlines())
    assert plain.keys() == {"time", "level", "logger", "message", "user_id", "session_id"}
    assert plain["level"] == "WARNING"
    assert plain["logger"] == "chorus.test-json-lines"
    assert plain["message"] == "plain words"
    assert (plain["user_id"], plain["session_id"]) == (7, "abc123")
    assert plain["time"].endswith("+00:00")
    assert broken["message"] == "it broke"
    assert broken["exception"].startswith("Traceback")
    assert "ValueError: no good" in broken["exception"]
    # Nothing leaked out of that context.
    assert log_context.current() == {}


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'chorus.db'}"
    env = {
        **os.environ,
        "CHORUS_DATABASE_URL": database_url,
        "CHORUS_LOG_FORMAT": "json",
        "CHORUS_OFFLINE_LATENCY_MS": "0",
        "CHORUS_DATA_DIR": str(tmp_path / "data"),
        "CHORUS_DASHBOARD_DIR": str(tmp_path / "no-dashboard"),
    }
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
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
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start:\n" + log.read_text()
            time.sleep(0.2)
        yield Server(url, database_url, log)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _chorus(database_url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CHORUS_DATABASE_URL": database_url},
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _lines(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote, each of which must be a JSON object."""
    return [json.loads(line) for line in server.log.read_text().splitlines()]


def test_json_lines_carry_the_request_user_and_session(server: Server) -> None:
    token = _chorus(server.database_url, "users", "create", "alice")
    alice = json.loads(_chorus(server.database_url, "users", "list", "--json"))[0]["userId"]
    auth = {"Authorization": f"Bearer {token}"}

    def graphql(query: str, request_id: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{server.url}/graphql",
            json={"query": query},
            headers={**auth, "X-Request-Id": request_id},
            timeout=10,
        )
        body = answer.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    graphql("{ viewer { name } }", "graphql-request-1")
    rest = httpx.get(
        f"{server.url}/api/training-history/user/{alice}",
        headers={**auth, "X-Request-Id": "rest-request-1"},
        timeout=10,
    )
    assert rest.status_code == 200
    started = graphql(
        "mutation { startTraining(input: { numExamples: 2 }) { sessionId } }", "start-1"
    )
    session_id = started["startTraining"]["sessionId"]
    query = f'{{ trainingSession(sessionId: "{session_id}") {{ status }} }}'
    deadline = time.monotonic() + 60
    while graphql(query, "poll")["trainingSession"]["status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the session did not finish"
        time.sleep(0.2)

    lines = _lines(server)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("Chorus ready") for line in lines)

    def about(request_id: str) -> list[dict[str, Any]]:
        return [line for line in lines if line.get("request_id") == request_id]

    requests = {"graphql-request-1": "POST /graphql", "rest-request-1": "GET /api"}
    for request_id, path in requests.items():
        access = about(request_id)
        assert access, f"no line for {request_id}"
        assert all(line["user_id"] == alice for line in access)
        assert any(path in line["message"] for line in access), access

    session_lines = [line for line in lines if line.get("session_id") == session_id]
    messages = [line["message"] for line in session_lines]
    assert any(message.startswith(f"session {session_id} started") for message in messages)
    assert any(message.startswith(f"session {session_id} ended COMPLETED") for message in messages)
    assert all(line["user_id"] == alice for line in session_lines)
    # A session's lines are its own, not those of the request that started it.
    assert all("request_id" not in line for line in session_lines)
