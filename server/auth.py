"""Bearer-token authentication for GraphQL, REST and websockets."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.errors import Unauthenticated
from models.tables import User
from models.users import authenticate, missing_token_message


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def user_for(db: async_sessionmaker[AsyncSession], authorization: str | None) -> User | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    async with db() as transaction:
        return await authenticate(transaction, token)


async def require_user(db: async_sessionmaker[AsyncSession], headers: Mapping[str, str]) -> User:
    user = await user_for(db, headers.get("authorization"))
    if user is None:
        raise Unauthenticated(missing_token_message(bool(headers.get("authorization"))))
    return user
