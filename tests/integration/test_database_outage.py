"""When the database cannot serve a request, every transport says so in its own shape and
tells the client to try again: GraphQL's SERVICE_UNAVAILABLE, REST's 503 with a JSON body,
a websocket closed with 1013, /readyz's "unreachable"; and never with the driver's, the
pool's or SQLAlchemy's words."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from websockets.typing import Subprotocol

from models.base import utcnow
from models.engine import create_engine, session_factory
from models.enums import FineTuneStatus
from models.tables import FineTuneJob
from resolvers.context import SUBSCRIBER_PATIENCE_S
from server import migrate
from server.app import create_app
from server.settings import Settings
from tests.integration.checks import assert_nothing_internal
from tests.support import Account, make_account
from tests.support.databases import drop_database, fresh_database_url
from tests.support.dbproxy import DatabaseProxy
from tests.support.live import InProcessServer, open_socket, send_subscribe
from trainer.finetune import FineTuner

HISTORY = "{ trainingHistory { totalCount } }"
WATCH = "subscription ($id: String!) { trainingProgress(sessionId: $id) { seq } }"


async def graphql_answer(server: InProcessServer, account: Account) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post("/graphql", json={"query": HISTORY}, headers=account.headers)


async def rest_answer(server: InProcessServer, account: Account) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.get(f"/api/training-history/user/{account.id}", headers=account.headers)


async def readiness(server: InProcessServer) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.get("/readyz")


def assert_try_again(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert_nothing_internal(response.text)
    body: dict[str, Any] = response.json()
    return body


def assert_graphql_try_again(response: httpx.Response) -> None:
    (error,) = assert_try_again(response)["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "try again" in error["message"]
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


def assert_rest_try_again(response: httpx.Response) -> None:
    body = assert_try_again(response)
    assert body["error"] == "SERVICE_UNAVAILABLE"
    assert "try again" in body["message"]


@contextlib.asynccontextmanager
async def every_connection_taken(engine: AsyncEngine) -> AsyncIterator[None]:
    """Holds every connection the engine's pool will give, for as long as it lasts."""
    held: list[AsyncConnection] = []
    try:
        while True:
            try:
                held.append(await engine.connect())
            except PoolTimeout:
                break
        yield
    finally:
        for connection in held:
            await connection.close()


async def test_a_reader_who_gets_no_connection_is_told_to_try_again(
    engine: AsyncEngine, settings: Settings
) -> None:
    alice = await make_account(engine, "alice")
    app = create_app(settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_s": 0.2}))
    async with InProcessServer(app) as server:
        services = app.state.services
        ws = await open_socket(server.ws_url, alice.token)
        async with every_connection_taken(services.engine):
            assert_graphql_try_again(await graphql_answer(server, alice))
            assert_rest_try_again(await rest_answer(server, alice))
            assert assert_try_again(await readiness(server)) == {
                "status": "unavailable",
                "database": "unreachable",
            }
            # A subscription whose first read finds the pool empty: after waiting for it a
            # while, masked, not the pool's message.
            await send_subscribe(ws, "1", WATCH, id="any")
            answer = json.loads(await asyncio.wait_for(ws.recv(), SUBSCRIBER_PATIENCE_S + 10))
            assert_nothing_internal(json.dumps(answer))
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert [error["extensions"]["code"] for error in errors] == ["SERVICE_UNAVAILABLE"]
        await ws.close()
        assert (await graphql_answer(server, alice)).json() == {
            "data": {"trainingHistory": {"totalCount": 0}}
        }


@pytest.fixture
async def mariadb_url(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated MariaDB database of this test's own."""
    url = fresh_database_url("mariadb", tmp_path)
    try:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        yield url
    finally:
        drop_database(url)


async def close_code(ws: websockets.ClientConnection) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_until_closed(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def read_until_closed(ws: websockets.ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 10)


@pytest.mark.mariadb
async def test_during_an_outage_every_transport_says_to_try_again(
    mariadb_url: str, tmp_path: Path
) -> None:
    proxy = await DatabaseProxy(mariadb_url).start()
    engine = create_engine(mariadb_url)
    alice = await make_account(engine, "alice")
    await engine.dispose()
    app = create_app(
        Settings(
            database_url=proxy.url,
            db_pool_timeout_s=1.0,
            offline_latency_ms=0,
            data_dir=tmp_path / "data",
            dashboard_dir=tmp_path / "no-dashboard",
            _env_file=None,
        )
    )
    init = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
    )
    try:
        async with InProcessServer(app) as server:
            assert (await graphql_answer(server, alice)).status_code == 200
            await proxy.cut()

            assert_graphql_try_again(await graphql_answer(server, alice))
            assert_rest_try_again(await rest_answer(server, alice))
            assert assert_try_again(await readiness(server)) == {
                "status": "unavailable",
                "database": "unreachable",
            }
            async with await open_socket(server.ws_url) as ws:
                await ws.send(init)
                assert await close_code(ws) == 1013
            async with websockets.connect(
                server.ws_url, subprotocols=[Subprotocol("graphql-ws")]
            ) as legacy:
                await legacy.send(init)
                message = json.loads(await asyncio.wait_for(legacy.recv(), 10))
                assert message["type"] == "connection_error"
                assert "try again" in message["payload"]["message"]
                assert_nothing_internal(json.dumps(message))
                assert await close_code(legacy) == 1013

            await proxy.restore()
            for _ in range(50):
                if (await readiness(server)).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            answer = await graphql_answer(server, alice)
            assert answer.json() == {"data": {"trainingHistory": {"totalCount": 0}}}
    finally:
        await proxy.cut()


@pytest.mark.mariadb
async def test_a_fine_tune_job_cut_short_by_an_outage_is_prepared_once_it_is_over(
    mariadb_url: str, tmp_path: Path
) -> None:
    """Before, its FAILED could not be written either, and it stayed where the outage left it
    for good."""
    engine = create_engine(mariadb_url)
    alice = await make_account(engine, "alice")
    async with session_factory(engine)() as db:
        job = FineTuneJob(
            user_id=alice.id,
            status=FineTuneStatus.QUEUED,
            backend="export",
            num_examples=0,
            created_at=utcnow(),
        )
        db.add(job)
        await db.commit()
        job_id = job.id
    proxy = await DatabaseProxy(mariadb_url).start()
    through_proxy = create_engine(proxy.url, pool_timeout_s=1.0)
    fine_tuner = FineTuner(session_factory(through_proxy), data_dir=tmp_path / "data")
    try:
        await proxy.cut()
        fine_tuner.submit(job_id)
        await asyncio.sleep(2)  # the claim has failed, and the job waits for the database
        await proxy.restore()
        async with asyncio.timeout(30):
            await fine_tuner.wait_idle()
    finally:
        await fine_tuner.aclose()
        await through_proxy.dispose()
        await proxy.cut()
    async with session_factory(engine)() as db:
        stored = await db.get(FineTuneJob, job_id)
    await engine.dispose()
    assert stored is not None
    assert (stored.status, stored.error) == (FineTuneStatus.SUCCEEDED, None)
    assert (tmp_path / "data" / "fine-tune" / str(job_id) / "dataset.jsonl").exists()
