"""Metrics of real server processes: the plain listener on CHORUS_METRICS_PORT, websockets and
live events as a subscriber sees them, and two processes sharing a multiprocess directory
whose counts add up in one scrape."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import make_account
from tests.support.live import (
    LiveServer,
    free_port,
    graphql_async,
    graphql_http,
    open_socket,
    send_subscribe,
)
from tests.support.metrics import Scrape

START = """mutation($input: StartTrainingInput!) {
  startTraining(input: $input) { sessionId status } }"""
SESSION = """query($id: String!) {
  trainingSession(sessionId: $id) { status numExamplesSuccessful } }"""
WATCH = """subscription($id: String!) {
  trainingProgress(sessionId: $id) { __typename seq at } }"""


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


async def scrape_port(port: int) -> Scrape:
    response = await get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200, response.text
    return Scrape.parse(response.text)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {within_s} s"
        await asyncio.sleep(0.1)


def start(server: LiveServer, token: str, examples: int) -> str:
    body = graphql_http(
        server, START, {"input": {"numExamples": examples, "voting": "JURY"}}, token=token
    )
    assert "errors" not in body, body
    session_id: str = body["data"]["startTraining"]["sessionId"]
    return session_id


async def test_the_metrics_port_serves_a_scraper_without_a_token(
    engine: AsyncEngine, database_url: str
) -> None:
    alice = await make_account(engine, "alice")
    port = free_port()
    server = LiveServer(
        database_url, offline_latency_ms=100, max_concurrent_examples=2, metrics_port=port
    )
    with server:
        before = await scrape_port(port)
        assert (await get(f"{server.url}/metrics")).status_code == 401
        session_id = start(server, alice.token, examples=6)

        ws = await open_socket(server.ws_url, alice.token)
        await send_subscribe(ws, "1", WATCH, id=session_id)
        first = json.loads(await ws.recv())
        assert first["type"] == "next", first
        during = await scrape_port(port)
        assert during.value("chorus_websocket_connections") == 1
        assert during.value("chorus_websocket_subscriptions") == 1
        assert during.value("chorus_sessions", status="RUNNING") == 1
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
        await ws.close()

        async def closed() -> bool:
            return (await scrape_port(port)).value("chorus_websocket_connections") == 0

        await eventually(closed)
        after = await scrape_port(port)
        assert after.value("chorus_websocket_subscriptions") == 0
        # The events that reached the subscriber live, each timed from its `at`.
        lag = "chorus_live_event_delivery_lag_seconds_count"
        assert after.since(before, lag) > 0
        assert after.value("chorus_sessions", status="RUNNING") == 0
        assert after.since(before, "chorus_sessions_ended_total", status="COMPLETED") == 1
        requests = "chorus_http_requests_total"
        assert after.since(before, requests, route="/metrics", status="401") == 1
        # The port's own scrapes are not requests to the API.
        assert after.since(before, requests, route="/metrics", status="200") == 0


def test_a_metrics_port_in_use_is_one_line_from_chorus_serve(database_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(free_port())],
            env={
                **os.environ,
                "CHORUS_DATABASE_URL": database_url,
                "CHORUS_METRICS_PORT": str(port),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: CHORUS_METRICS_PORT: cannot listen on 127.0.0.1:{port}")


async def test_two_processes_sharing_a_directory_add_up_in_one_scrape(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    alice = await make_account(engine, "alice")
    port = free_port()
    shared = tmp_path / "metrics"
    servers = [
        LiveServer(database_url, max_concurrent_examples=2, metrics_port=port) for _ in range(2)
    ]
    for server in servers:
        server.env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    first, second = servers
    with first, second:
        # The first serves the port; the second found it taken, and waits its turn.
        assert f"CHORUS_METRICS_PORT {port} is taken" in second.log()
        for server, times in ((first, 3), (second, 5)):
            for _ in range(times):
                assert (await get(f"{server.url}/healthz")).status_code == 200
        session_id = start(second, alice.token, examples=4)
        session: dict[str, Any] = {}

        async def finished() -> bool:
            body = await graphql_async(first, SESSION, {"id": session_id}, token=alice.token)
            session.update(body["data"]["trainingSession"])
            return bool(session["status"] == "COMPLETED")

        await eventually(finished, within_s=60)
        ws = await open_socket(second.ws_url, alice.token)

        scrape = await scrape_port(port)
        healthz = "chorus_http_requests_total"
        assert scrape.value(healthz, route="/healthz", status="200") == 8
        succeeded = session["numExamplesSuccessful"]
        assert succeeded > 0
        assert scrape.value("chorus_examples_total", status="SUCCEEDED") == succeeded
        assert scrape.value("chorus_sessions_ended_total", status="COMPLETED") == 1
        assert scrape.value("chorus_websocket_connections") == 1
        assert scrape.value("chorus_db_pool_size_connections") == 2 * 10
        served = scrape.value(healthz, route="/healthz", status="200")

        # A process that dies takes its gauges with it; its counts stay in the totals.
        second.kill()
        await ws.close()
        scrape = await scrape_port(port)
        assert scrape.value("chorus_websocket_connections") == 0
        assert scrape.value("chorus_db_pool_size_connections") == 10
        assert scrape.value(healthz, route="/healthz", status="200") == served
        assert scrape.value("chorus_examples_total", status="SUCCEEDED") == succeeded
