"""Bearer-token authentication for GraphQL, REST and websockets.

A token's user is kept for a few seconds (CHORUS_TOKEN_CACHE_S) in each API process: a
token looked up on every request is a database session, a statement and a rollback, about
a tenth of what a history page costs. A revocation takes effect at once in the process that
made it, and within those seconds in every other one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.errors import Unauthenticated
from models.tables import User
from models.users import authenticate, missing_token_message, revocations

# Tokens kept at most; past it, those whose time is up are dropped, else all of them.
CACHE_CAPACITY = 10_000


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenCache:
    """The users of live tokens looked up in the last `seconds` (0: none is kept). Only
    tokens that were found are kept: an unknown one is looked up each time, so a token
    made a moment ago works at once."""

    def __init__(
        self,
        seconds: float,
        *,
        capacity: int = CACHE_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._capacity = capacity
        self._clock = clock
        self._users: dict[str, tuple[User, float]] = {}
        self._revocations = revocations()

    def get(self, token: str) -> User | None:
        self._forget_if_revoked()
        kept = self._users.get(token)
        if kept is None:
            return None
        user, until = kept
        if self._clock() >= until:
            del self._users[token]
            return None
        return user

    def stamp(self) -> tuple[float, int]:
        """When a lookup begins, and how many tokens this process had revoked by then."""
        return self._clock(), revocations()

    def put(self, token: str, user: User, stamp: tuple[float, int]) -> None:
        """Keep `user` for `token` until `seconds` after its lookup began (`stamp`), unless
        this process revoked a token since then."""
        self._forget_if_revoked()
        looked_up_at, revocations_then = stamp
        if self.seconds <= 0 or revocations_then != self._revocations:
            return
        if len(self._users) >= self._capacity:
            now = self._clock()
            self._users = {key: kept for key, kept in self._users.items() if kept[1] > now}
            if len(self._users) >= self._capacity:
                self._users.clear()
        self._users[token] = (user, looked_up_at + self.seconds)

    def _forget_if_revoked(self) -> None:
        count = revocations()
        if count != self._revocations:
            self._users.clear()
            self._revocations = count


class Authenticator:
    """The user a request's token belongs to, from the cache or the database."""

    def __init__(self, db: async_sessionmaker[AsyncSession], cache: TokenCache) -> None:
        self._db = db
        self.cache = cache

    async def user_for(self, authorization: str | None) -> User | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        user = self.cache.get(token)
        if user is not None:
            return user
        stamp = self.cache.stamp()
        async with self._db() as transaction:
            user = await authenticate(transaction, token)
        if user is not None:
            self.cache.put(token, user, stamp)
        return user

    async def require_user(self, headers: Mapping[str, str]) -> User:
        user = await self.user_for(headers.get("authorization"))
        if user is None:
            raise Unauthenticated(missing_token_message(bool(headers.get("authorization"))))
        return user
