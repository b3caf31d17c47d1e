"""A token's user is kept for CHORUS_TOKEN_CACHE_S in each API process: a revocation takes
effect at once in the process that made it, and within those seconds in any other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.users import revoke_token
from server.app import create_app
from server.settings import Settings
from tests.support import Account, make_account
from tests.support.live import InProcessServer, LiveServer

VIEWER = {"query": "{ viewer { name } }"}


async def viewer_name(url: str, account: Account) -> str | None:
    """The viewer's name over real HTTP; None when the token is refused."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{url}/graphql", json=VIEWER, headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    if body.get("errors"):
        assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
        assert "unknown or revoked" in body["errors"][0]["message"]
        return None
    name: str = body["data"]["viewer"]["name"]
    return name


async def revoke(engine: AsyncEngine, account: Account) -> None:
    async with session_factory(engine)() as db:
        await revoke_token(db, account.token)
        await db.commit()


@pytest.fixture
async def in_process(engine: AsyncEngine, settings: Settings) -> AsyncIterator[InProcessServer]:
    """A server in the test's own process, keeping tokens far longer than the test runs."""
    app = create_app(settings.model_copy(update={"token_cache_s": 300.0}))
    async with InProcessServer(app) as running:
        yield running


async def test_a_token_revoked_in_the_same_process_is_refused_at_once(
    in_process: InProcessServer, engine: AsyncEngine
) -> None:
    alice = await make_account(engine, "alice")
    bob = await make_account(engine, "bob")
    assert await viewer_name(in_process.url, alice) == "alice"
    assert await viewer_name(in_process.url, bob) == "bob"
    await revoke(engine, alice)
    assert await viewer_name(in_process.url, alice) is None
    # Every kept user was forgotten; bob's token, still live, is read again and works.
    assert await viewer_name(in_process.url, bob) == "bob"


@pytest.mark.parametrize("cache_s", [0.0, 3.0])
async def test_another_process_refuses_a_revoked_token_within_the_cache_s_seconds(
    database_url: str, engine: AsyncEngine, cache_s: float
) -> None:
    alice = await make_account(engine, "alice")
    with LiveServer(database_url, token_cache_s=cache_s) as server:
        started = time.monotonic()
        assert await viewer_name(server.url, alice) == "alice"
        kept_until = time.monotonic() + cache_s
        await revoke(engine, alice)
        still = await viewer_name(server.url, alice)
        if cache_s == 0:
            assert still is None
        elif time.monotonic() < started + cache_s:
            # Kept since the first request: not read again, so not yet seen as revoked.
            assert still == "alice"
        await asyncio.sleep(max(0.0, kept_until - time.monotonic()))
        assert await viewer_name(server.url, alice) is None
