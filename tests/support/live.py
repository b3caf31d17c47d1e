"""A real Chorus server in its own process, on a free loopback port, and clients for it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets import ClientConnection, connect
from websockets.typing import Subprotocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_family(pid: int) -> list[int]:
    """The process and every process it started (uvicorn's workers), still running."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            children = [
                int(child)
                for task in Path(f"/proc/{current}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except FileNotFoundError:  # it ended meanwhile
            continue
        found.append(current)
        pending.extend(children)
    return found


class LiveServer:
    """`chorus serve` as a subprocess; stopped gracefully, or killed like a crash."""

    def __init__(
        self, database_url: str, broadcast_url: str = "memory://", **settings: Any
    ) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="chorus-live-"))
        self.log_path = self.workdir / "server.log"
        self.env = {
            **os.environ,
            "CHORUS_DATABASE_URL": database_url,
            "CHORUS_BROADCAST_URL": broadcast_url,
            "CHORUS_OFFLINE_LATENCY_MS": "0",
            "CHORUS_DATA_DIR": str(self.workdir / "data"),
            "CHORUS_DASHBOARD_DIR": str(self.workdir / "no-dashboard"),
            **{f"CHORUS_{key.upper()}": str(value) for key, value in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None
        # More arguments of `chorus serve`.
        self.arguments: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 30) -> LiveServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.cli",
                "serve",
                "--port",
                str(self.port),
                *self.arguments,
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log()}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process dies mid-work, as in a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def graphql_http(
    server: LiveServer | InProcessServer,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    token: str,
) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": dict(variables or {})},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def graphql_async(
    server: LiveServer | InProcessServer,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    token: str,
    http: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """As `graphql_http`, without blocking the loop an in-process server runs on; through
    `http` when given (a new client builds its TLS context first, some 20 ms)."""
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))
        response = await http.post(
            f"{server.url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            headers={"Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


EVENT_FIELDS = """
        __typename seq sessionId at
        ... on TeacherResponded { index model ok latencyMs }
        ... on VoteCast { index voter candidate }
        ... on ExampleScored { index winner finalQuality }
        ... on SessionProgress { completed failed total etaSeconds }
        ... on FineTuningTriggered { examplesCollected job { status numExamples } }
        ... on SessionResumed { takeovers completed total reason }
        ... on SessionFinished { status session { sessionId status numExamplesSuccessful } }
"""
PROGRESS = (
    """
    subscription($id: String!, $after: Int) {
      trainingProgress(sessionId: $id, afterSeq: $after) {"""
    + EVENT_FIELDS
    + """}
    }
"""
)
BATCHES = (
    """
    subscription($id: String!, $after: Int, $delay: Int, $max: Int) {
      trainingProgressBatches(sessionId: $id, afterSeq: $after, maxDelayMs: $delay,
                              maxEvents: $max) {
        firstSeq lastSeq events {"""
    + EVENT_FIELDS
    + """}
      }
    }
"""
)


def ws_client(
    server: LiveServer | InProcessServer, token: str, *, legacy: bool = False, **kwargs: Any
) -> Client:
    protocol = (
        WebsocketsTransport.APOLLO_SUBPROTOCOL
        if legacy
        else WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
    )
    transport = WebsocketsTransport(
        url=server.ws_url,
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[protocol],
        **kwargs,
    )
    return Client(transport=transport, fetch_schema_from_transport=False)


async def progress_events(
    server: LiveServer | InProcessServer,
    token: str,
    session_id: str,
    after: int | None = None,
    *,
    legacy: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    async with ws_client(server, token, legacy=legacy) as session:
        request = GraphQLRequest(PROGRESS, variable_values={"id": session_id, "after": after})
        async for result in session.subscribe(request):
            yield result["trainingProgress"]


async def progress_batches(
    server: LiveServer | InProcessServer,
    token: str,
    session_id: str,
    after: int | None = None,
    *,
    max_delay_ms: int | None = None,
    max_events: int | None = None,
    legacy: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """The session's `trainingProgressBatches`; a null delay or size is the server's default."""
    variables = {"id": session_id, "after": after, "delay": max_delay_ms, "max": max_events}
    async with ws_client(server, token, legacy=legacy) as session:
        async for result in session.subscribe(GraphQLRequest(BATCHES, variable_values=variables)):
            yield result["trainingProgressBatches"]


class InProcessServer:
    """The app under uvicorn in the test's own event loop, so tests can see its tasks."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        self._task: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def __aenter__(self) -> InProcessServer:
        import asyncio

        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task


TRANSPORT_WS = Subprotocol("graphql-transport-ws")


async def open_socket(
    url: str,
    token: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    max_queue: int = 16,
    close_timeout: float = 10,
    ping_interval: float | None = 20,
) -> ClientConnection:
    """A raw graphql-transport-ws connection; with a token, initialised and acknowledged."""
    ws = await connect(
        url,
        subprotocols=[TRANSPORT_WS],
        additional_headers=headers,
        max_queue=max_queue,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
    )
    if token is not None:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
    return ws


async def send_subscribe(
    ws: ClientConnection, operation_id: str, query: str, **variables: Any
) -> None:
    await ws.send(
        json.dumps(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )
    )
