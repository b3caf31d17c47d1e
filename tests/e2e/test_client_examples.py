"""The client examples in `client-examples/`, run as their users run them, against a real server.

The Python scripts and the Node script are subprocesses; a TCP proxy in front of the server
cuts their connections mid-session to show that they pick up after the last event seen. Both
watchers follow `trainingProgressBatches`; what they print is compared with the events
`trainingProgress` replays one by one.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import Account, make_account
from tests.support.live import LiveServer, graphql_http, progress_events

ROOT = Path(__file__).resolve().parents[2]
PYTHON_EXAMPLES = ROOT / "client-examples" / "python"
WATCH = PYTHON_EXAMPLES / "watch_training.py"
EXPORT = PYTHON_EXAMPLES / "export_history.py"
JAVASCRIPT_EXAMPLE = ROOT / "client-examples" / "javascript"
WATCH_PLAIN = [sys.executable, str(WATCH), "--plain"]
EXPORT_HISTORY = [sys.executable, str(EXPORT)]

EVENT_LINE = re.compile(r"^\s*(\d+) (\w+)\b")
STARTED = re.compile(r"Started session (\w+)")
BATCHES = re.compile(r"(\d+) events arrived in (\d+) batches")
HISTORY_FIELDS = [
    "sessionId",
    "startedAt",
    "completedAt",
    "status",
    "numExamplesRequested",
    "numExamplesSuccessful",
    "numExamplesFailed",
    "averageQuality",
    "minQuality",
    "maxQuality",
    "bestPerformingModel",
    "totalTimeSeconds",
    "storiesSavedCount",
    "fineTuningTriggered",
    "genresSelected",
]
CLIENT_TIMEOUT_S = 45
RECORD = """
mutation($input: TrainingSessionInput!) { recordTrainingSession(input: $input) { sessionId } }
"""


@dataclass(frozen=True)
class Run:
    returncode: int
    lines: list[str]
    stderr: str

    @property
    def events(self) -> list[tuple[int, str]]:
        """(seq, type) of each event line, in the order printed."""
        matches = (EVENT_LINE.match(line) for line in self.lines)
        return [(int(match[1]), match[2]) for match in matches if match]

    def report(self) -> str:
        return (
            f"exit {self.returncode}\nstdout:\n"
            + "\n".join(self.lines)
            + f"\nstderr:\n{self.stderr}"
        )


async def run(
    *command: str | Path,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Run:
    """Run a client to its end; `on_line` sees each line of its stdout as it comes."""
    process = await asyncio.create_subprocess_exec(
        *map(str, command),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stderr = asyncio.create_task(process.stderr.read())
    lines: list[str] = []
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            async for raw in process.stdout:
                lines.append(raw.decode().rstrip("\n"))
                if on_line is not None:
                    on_line(lines[-1])
            returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Run(returncode, lines, (await stderr).decode())


def assert_came_in_batches(result: Run) -> None:
    """The client counted the events it printed and the messages that brought them: fewer."""
    counted = BATCHES.search(result.stderr)
    assert counted is not None, result.report()
    events, batches = int(counted[1]), int(counted[2])
    assert events == len(result.events), result.report()
    assert batches < events, result.report()


def assert_streamed_to_completion(result: Run) -> str:
    """Every event once, in order, in batches, then COMPLETED; returns the session's id."""
    assert result.returncode == 0, result.report()
    seqs = [seq for seq, _ in result.events]
    assert seqs == list(range(1, len(seqs) + 1)), result.report()
    assert result.events[-1][1] == "SessionFinished"
    assert "COMPLETED" in result.lines[-1]
    assert_came_in_batches(result)
    started = STARTED.search(result.stderr)
    assert started is not None, result.stderr
    return started[1]


async def stored_events(
    server: LiveServer, account: Account, session_id: str
) -> list[tuple[int, str]]:
    """The session's events as the server replays them to a new subscriber."""
    return [
        (event["seq"], event["__typename"])
        async for event in progress_events(server, account.token, session_id)
    ]


class CuttingProxy:
    """A TCP proxy in front of the server that can cut every open connection, as a network
    drop does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._abort_all()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def cut(self) -> None:
        self.cuts += 1
        self._abort_all()

    def _abort_all(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            self._writers |= {writer, upstream_writer}
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._handlers.discard(handler)
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    """One server per backend for the module; `live` empties its database for each test."""
    # One example at a time keeps a session going long enough to cut it in the middle.
    with LiveServer(database_url, offline_latency_ms=20, max_concurrent_examples=1) as server:
        yield server


@pytest.fixture
def live(engine: AsyncEngine, server: LiveServer) -> LiveServer:
    return server


@pytest.fixture
async def alice(engine: AsyncEngine) -> Account:
    return await make_account(engine, "alice")


def client_env(url: str, account: Account) -> dict[str, str]:
    return {"CHORUS_URL": url, "CHORUS_TOKEN": account.token}


async def test_watch_training_streams_a_session_to_completed(
    live: LiveServer, alice: Account
) -> None:
    env = client_env(live.url, alice)
    result = await run(*WATCH_PLAIN, "--examples", "5", "--seed", "3", env=env)
    session_id = assert_streamed_to_completion(result)
    assert result.events == await stored_events(live, alice, session_id)
    assert "of 5 examples succeeded" in result.lines[-1]

    # Following the finished session replays the same events.
    again = await run(*WATCH_PLAIN, "--session-id", session_id, env=env)
    assert again.returncode == 0, again.report()
    assert again.events == result.events
    assert_came_in_batches(again)


async def test_the_node_client_streams_a_session_to_completed(
    live: LiveServer, alice: Account, node: str
) -> None:
    script = JAVASCRIPT_EXAMPLE / "watch.mjs"
    result = await run(node, script, "--examples", "3", env=client_env(live.url, alice))
    session_id = assert_streamed_to_completion(result)
    assert result.events == await stored_events(live, alice, session_id)

    # Following the finished session replays the same events.
    again = await run(node, script, "--session", session_id, env=client_env(live.url, alice))
    assert again.returncode == 0, again.report()
    assert again.events == result.events
    assert_came_in_batches(again)


@pytest.mark.parametrize("client", ["python", "node"])
async def test_clients_pick_up_after_a_dropped_connection(
    live: LiveServer, alice: Account, client: str, request: pytest.FixtureRequest
) -> None:
    if client == "python":
        command: list[str | Path] = [*WATCH_PLAIN]
    else:
        command = [request.getfixturevalue("node"), JAVASCRIPT_EXAMPLE / "watch.mjs"]
    async with CuttingProxy(live.port) as proxy:

        def cut_after_the_first_example(line: str) -> None:
            if proxy.cuts == 0 and "SessionProgress" in line:
                proxy.cut()

        # Long enough (about 3 s) that the first example's batch comes well before the last.
        env = client_env(proxy.url, alice)
        result = await run(
            *command, "--examples", "40", env=env, on_line=cut_after_the_first_example
        )
    session_id = assert_streamed_to_completion(result)
    assert proxy.cuts == 1
    assert "Connection lost" in result.stderr, result.report()
    assert result.events == await stored_events(live, alice, session_id)


async def test_watch_training_says_what_is_wrong(live: LiveServer, alice: Account) -> None:
    wrong_token = await run(*WATCH_PLAIN, "--examples", "2", "--url", live.url, "--token", "nope")
    assert wrong_token.returncode == 2
    assert "refused the token" in wrong_token.stderr

    nowhere = client_env("http://127.0.0.1:9", alice)
    unreachable = await run(*WATCH_PLAIN, "--session-id", "nope", env=nowhere)
    assert unreachable.returncode == 2
    assert "cannot reach http://127.0.0.1:9" in unreachable.stderr

    unknown = await run(*WATCH_PLAIN, "--session-id", "nope", env=client_env(live.url, alice))
    assert unknown.returncode == 2
    assert "No training session 'nope'" in unknown.stderr

    export = await run(*EXPORT_HISTORY, "--url", live.url, "--token", "nope")
    assert export.returncode == 2
    assert "refused the token" in export.stderr


def past_session(n: int) -> dict[str, Any]:
    """The n-th of a varied set of sessions recorded by an external trainer."""
    started = datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(days=n, minutes=n)
    quality = None if n == 4 else 6.0 + 0.4 * n
    return {
        "sessionId": uuid.uuid4().hex,
        "numExamplesRequested": 10 + n,
        "numExamplesSuccessful": 8 + n,
        "numExamplesFailed": 2,
        "startedAt": started.isoformat(),
        "completedAt": (started + timedelta(seconds=90 * (n + 1))).isoformat(),
        "genresSelected": [["FANTASY"], ["MYSTERY", "HORROR"], []][n % 3],
        "storiesSavedCount": n,
        "averageQuality": quality,
        "minQuality": None if quality is None else quality - 1,
        "maxQuality": None if quality is None else quality + 1,
        "bestPerformingModel": "offline-bard" if n % 2 else None,
        "totalTimeSeconds": 90 * (n + 1),
        "fineTuningTriggered": n == 5,
    }


def history(
    server: LiveServer, account: Account, history_filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    query = f"""query($filter: TrainingHistoryFilter) {{
      trainingHistory(first: 100, filter: $filter) {{
        totalCount edges {{ node {{ {" ".join(HISTORY_FIELDS)} }} }}
      }}
    }}"""
    body = graphql_http(server, query, {"filter": history_filter}, token=account.token)
    assert "errors" not in body, body
    connection = body["data"]["trainingHistory"]
    nodes: list[dict[str, Any]] = [edge["node"] for edge in connection["edges"]]
    assert len(nodes) == connection["totalCount"]
    return nodes


def csv_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else str(value)


async def test_export_history_writes_every_session(
    live: LiveServer, alice: Account, tmp_path: Path
) -> None:
    for n in range(8):
        body = graphql_http(live, RECORD, {"input": past_session(n)}, token=alice.token)
        assert "errors" not in body, body
    sessions = history(live, alice)
    assert len(sessions) == 8
    server = ["--url", live.url, "--token", alice.token]

    # Three sessions a page: the export follows the cursors over three pages.
    output = tmp_path / "history.csv"
    exported = await run(*EXPORT_HISTORY, *server, "--page-size", "3", "--output", output)
    assert exported.returncode == 0, exported.report()
    with output.open(newline="") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == HISTORY_FIELDS
        rows = list(reader)
    assert rows == [{name: csv_text(s[name]) for name in HISTORY_FIELDS} for s in sessions]

    as_json = await run(*EXPORT_HISTORY, *server, "--format", "json", "--page-size", "3")
    assert as_json.returncode == 0, as_json.report()
    assert json.loads("\n".join(as_json.lines)) == sessions

    oldest_first = await run(*EXPORT_HISTORY, *server, "--format", "json", "--order", "oldest")
    assert json.loads("\n".join(oldest_first.lines)) == sessions[::-1]

    filters = ["--genre", "fantasy", "--min-quality", "6.5", "--since", "2026-03-02"]
    filtered = await run(*EXPORT_HISTORY, *server, *filters, "--status", "completed")
    assert filtered.returncode == 0, filtered.report()
    expected = history(
        live,
        alice,
        {
            "genre": "FANTASY",
            "minAverageQuality": 6.5,
            "startedAfter": "2026-03-02T00:00:00+00:00",
            "status": "COMPLETED",
        },
    )
    assert expected, "the filter should match some of the sessions"
    exported_ids = [
        row["sessionId"] for row in csv.DictReader(io.StringIO("\n".join(filtered.lines)))
    ]
    assert exported_ids == [session["sessionId"] for session in expected]
