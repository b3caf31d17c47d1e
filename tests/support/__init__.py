"""Helpers shared by the tests of every level and by the benchmarks.

Here: users with tokens, and GraphQL calls that fail loudly. In the modules beside it:
`databases` (the test servers, and databases created and dropped), `factories` (stored
sessions), `records` (checks that a stored session agrees with itself), `fake_provider`
(the teachers' protocols over loopback HTTP) and `live` (a real server process and its
clients). None of them imports the app (`server.app`); import them, never a conftest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from models.engine import session_factory
from models.users import create_token, create_user


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_account(engine: AsyncEngine, name: str, *, admin: bool = False) -> Account:
    async with session_factory(engine)() as db:
        user = await create_user(db, name, is_admin=admin)
        token = await create_token(db, user)
        await db.commit()
        return Account(id=user.id, name=user.name, token=token)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    account: Account | None = None,
) -> dict[str, Any]:
    """The whole response body: `data` and, when there are any, `errors`."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=account.headers if account else {},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def graphql_data(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    account: Account | None = None,
) -> dict[str, Any]:
    body = await graphql(client, query, variables, account=account)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Wait until `check` holds: for a state another task reaches on its own time."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)
