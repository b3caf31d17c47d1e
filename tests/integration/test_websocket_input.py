"""Hostile input over websockets: a token that cannot be used closes the connection with
4403 on both protocols (after a connection_error on the legacy one), a message that cannot
be read closes it with 4400, and text that is not valid Unicode is BAD_USER_INPUT."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from websockets.typing import Subprotocol

from models.engine import session_factory
from models.users import revoke_token
from server.app import create_app
from server.settings import Settings
from tests.integration.checks import assert_nothing_internal
from tests.support import make_account
from tests.support.live import InProcessServer, open_socket

LEGACY = Subprotocol("graphql-ws")
# A JSON escape of a lone surrogate: valid JSON text, but no string any database stores.
SURROGATE_INIT = '{"type": "connection_init", "payload": {"authorization": "Bearer \\ud800"}}'


@pytest.fixture
async def server(engine: AsyncEngine, settings: Settings) -> AsyncIterator[InProcessServer]:
    app: Starlette = create_app(settings)
    async with InProcessServer(app) as running:
        yield running


async def close_code(ws: websockets.ClientConnection) -> int:
    """The code the server closes `ws` with, once it has read what came before."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_until_closed(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def read_until_closed(ws: websockets.ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 10)


async def legacy_rejection(url: str, init: str) -> tuple[dict[str, Any], int]:
    """What the legacy protocol answers `init` with, and the code it then closes with."""
    async with websockets.connect(url, subprotocols=[LEGACY]) as ws:
        await ws.send(init)
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return message, await close_code(ws)


async def test_an_unusable_token_closes_with_4403_on_both_protocols(
    server: InProcessServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    async with session_factory(engine)() as db:
        await revoke_token(db, alice.token)
        await db.commit()
    revoked = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
    )
    for init in (SURROGATE_INIT, revoked):
        async with await open_socket(server.ws_url) as ws:
            await ws.send(init)
            assert await close_code(ws) == 4403
        message, code = await legacy_rejection(server.ws_url, init)
        assert message["type"] == "connection_error"
        assert "unknown or revoked" in message["payload"]["message"]
        assert code == 4403


async def test_a_message_that_cannot_be_read_closes_with_4400(
    server: InProcessServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    for message in (
        '"x"',
        "[" * 100_000 + "]" * 100_000,
        '{"type": 7}',
        '{"id": "1", "type": "subscribe", "payload": {"query": 7}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { name } }", '
        '"variables": [1]}}',
    ):
        async with await open_socket(server.ws_url, alice.token) as ws:
            await ws.send(message)
            assert await close_code(ws) == 4400, message


async def test_the_legacy_protocol_answers_a_malformed_start_with_an_error(
    server: InProcessServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    async with websockets.connect(server.ws_url, subprotocols=[LEGACY]) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": None}}))
        while (answer := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] == "ka":
            pass
        assert answer == {
            "type": "error",
            "id": "1",
            "payload": {"message": "A start message has a `payload` with a `query`."},
        }


async def test_a_variable_that_is_not_unicode_is_bad_user_input(
    server: InProcessServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    async with await open_socket(server.ws_url, alice.token) as ws:
        await ws.send(
            '{"id": "1", "type": "subscribe", "payload": {"query": '
            '"subscription ($id: String!) { trainingProgress(sessionId: $id) { seq } }", '
            '"variables": {"id": "\\ud800"}}}'
        )
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert_nothing_internal(json.dumps(answer))
    errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"]
