"""The admission queue of a real server (uvicorn on a free port, real clients): a request whose
turn does not come in time is told to try again, in every transport's shape; health,
readiness and metrics answer whatever the queue; a client that goes away leaves it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.admission import RETRY_AFTER_S, Admission
from server.app import create_app
from server.settings import Settings
from tests.integration.checks import assert_nothing_internal
from tests.support import Account, eventually, make_account
from tests.support.live import InProcessServer, open_socket, send_subscribe
from tests.support.metrics import Scrape

HISTORY = "{ trainingHistory { totalCount } }"
WATCH = "subscription ($id: String!) { trainingProgress(sessionId: $id) { seq } }"


@asynccontextmanager
async def serving(settings: Settings, **changes: object) -> AsyncIterator[InProcessServer]:
    async with InProcessServer(create_app(settings.model_copy(update=changes))) as server:
        yield server


def admission_of(server: InProcessServer) -> Admission:
    admission = server.app.state.services.admission
    assert isinstance(admission, Admission)
    return admission


@asynccontextmanager
async def every_turn_taken(admission: Admission) -> AsyncIterator[None]:
    """Holds every turn the queue gives, as requests that take long would."""
    for _ in range(admission.limit):
        assert await admission.wait_turn()
    try:
        yield
    finally:
        for _ in range(admission.limit):
            admission.done()


async def scrape(http: httpx.AsyncClient, admin: Account) -> Scrape:
    response = await http.get("/metrics", headers=admin.headers)
    assert response.status_code == 200, response.text
    return Scrape.parse(response.text)


def assert_told_to_try_again(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert_nothing_internal(response.text)
    body: dict[str, Any] = response.json()
    return body


async def test_a_request_whose_turn_does_not_come_is_told_to_try_again(
    engine: AsyncEngine, settings: Settings
) -> None:
    admin = await make_account(engine, "root", admin=True)
    async with (
        serving(settings, max_active_requests=2, request_queue_timeout_s=0.5) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        ws = await open_socket(server.ws_url, admin.token)
        before = await scrape(http, admin)
        async with every_turn_taken(admission_of(server)):
            answer = await http.post("/graphql", json={"query": HISTORY}, headers=admin.headers)
            (error,) = assert_told_to_try_again(answer)["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert error["extensions"]["requestId"] == answer.headers["x-request-id"]
            assert "too busy" in error["message"]
            assert "try again" in error["message"]

            answer = await http.get(f"/api/training-history/user/{admin.id}", headers=admin.headers)
            body = assert_told_to_try_again(answer)
            assert body["error"] == "SERVICE_UNAVAILABLE"
            assert "try again" in body["message"]

            # A subscription's first read, and a websocket's token, wait their turn too.
            await send_subscribe(ws, "1", WATCH, id="any")
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] == "next", message
            errors = message["payload"]["errors"]
            assert [error["extensions"]["code"] for error in errors] == ["SERVICE_UNAVAILABLE"]
            async with await open_socket(server.ws_url) as late:
                token = {"authorization": f"Bearer {admin.token}"}
                await late.send(json.dumps({"type": "connection_init", "payload": token}))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(late.recv(), 10)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1013

            # Health, readiness and metrics are not queued.
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            during = await scrape(http, admin)
        await ws.close()

        assert during.value("chorus_admission_active_requests") == 2
        assert during.since(before, "chorus_admission_left_total", reason="timeout") == 4
        assert during.since(before, "chorus_admission_wait_seconds_count") >= 4
        # The turns are free again: the same request is answered.
        answer = await http.post("/graphql", json={"query": HISTORY}, headers=admin.headers)
        assert answer.json() == {"data": {"trainingHistory": {"totalCount": 0}}}


async def test_a_client_that_goes_away_while_queued_leaves_the_queue(
    engine: AsyncEngine, settings: Settings
) -> None:
    admin = await make_account(engine, "root", admin=True)
    async with (
        serving(settings, max_active_requests=1, request_queue_timeout_s=60) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
    ):
        admission = admission_of(server)
        before = await scrape(http, admin)
        async with every_turn_taken(admission):
            # One client sends its request and goes away; another waits behind it.
            _, leaving = await asyncio.open_connection("127.0.0.1", server.port)
            body = json.dumps({"query": HISTORY}).encode()
            leaving.write(
                b"POST /graphql HTTP/1.1\r\nHost: chorus\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {admin.token}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await leaving.drain()
            await eventually(lambda: _true(admission.waiting == 1))
            staying = asyncio.create_task(
                http.post("/graphql", json={"query": HISTORY}, headers=admin.headers)
            )
            await eventually(lambda: _true(admission.waiting == 2))
            leaving.close()
            await leaving.wait_closed()
            # Its place is freed while every turn is still taken.
            await eventually(lambda: _true(admission.waiting == 1))
        answer = await asyncio.wait_for(staying, 10)
        assert answer.json() == {"data": {"trainingHistory": {"totalCount": 0}}}
        after = await scrape(http, admin)
    assert after.since(before, "chorus_admission_left_total", reason="gone") == 1
    assert after.since(before, "chorus_admission_left_total", reason="timeout") == 0
    # Counted as a client that went away, not as a failure of the server's.
    requests = "chorus_http_requests_total"
    assert after.since(before, requests, route="/graphql", status="499") == 1
    assert after.since(before, requests, route="/graphql", status="500") == 0


async def _true(value: bool) -> bool:
    return value
