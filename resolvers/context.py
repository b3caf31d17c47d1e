"""The per-request context every resolver receives, and the services a request needs.

The services are described here as an interface (`RequestServices`), not taken from the
server: the server's `Services` satisfies it, so nothing in the API's layers depends on how
the server is wired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.types import Info as StrawberryInfo

from models.errors import Unauthenticated
from models.tables import User
from models.users import missing_token_message, owner_for
from resolvers.admission import Admission
from resolvers.loaders import Loaders
from trainer.events import EventBatch, NumberedEvent
from trainer.live import Batching
from trainer.manager import SessionManager
from trainer.teachers.base import Teacher

logger = logging.getLogger("chorus.api")
T = TypeVar("T")
# How long a subscriber waits out an emptied pool before it is told to try again.
SUBSCRIBER_PATIENCE_S = 15.0


class LiveFeed(Protocol):
    """One subscriber's window onto a session's live events."""

    @property
    def overflowed(self) -> bool: ...

    async def take(self, patience_s: float) -> list[EventBatch]: ...

    def recover(self) -> None: ...

    async def replay(
        self,
        after_seq: int,
        limit: int,
        size: int,
        read: Callable[[], Awaitable[Sequence[NumberedEvent]]],
    ) -> tuple[EventBatch, ...]: ...


class LiveHub(Protocol):
    """Live session events: a feed per subscriber, and whether the broadcast carries them."""

    @property
    def healthy(self) -> bool: ...

    def feed(
        self, session_id: str, batching: Batching | None = None
    ) -> AbstractAsyncContextManager[LiveFeed]: ...


class RequestSettings(Protocol):
    """The settings requests read: a session's time estimate, and the queue's bound."""

    @property
    def offline_latency_ms(self) -> int: ...

    @property
    def max_concurrent_examples(self) -> int: ...

    @property
    def max_queued_sessions_per_user(self) -> int: ...


class RequestServices(Protocol):
    """What the running server offers a request."""

    @property
    def db(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def manager(self) -> SessionManager: ...

    @property
    def hub(self) -> LiveHub: ...

    @property
    def teachers(self) -> Sequence[Teacher]: ...

    @property
    def settings(self) -> RequestSettings: ...

    @property
    def admission(self) -> Admission: ...


@dataclass
class Context:
    services: RequestServices
    user: User | None
    request_id: str
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    token_given: bool = False
    over_websocket: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def viewer(self) -> User:
        if self.user is None:
            raise Unauthenticated(missing_token_message(self.token_given))
        return self.user

    def db(self) -> AsyncSession:
        """A short-lived session: resolvers run concurrently, and an AsyncSession must not."""
        return self.services.db()

    async def read_patiently(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`read` for a websocket, in its turn among the process's requests (a subscriber
        holds no turn between its reads, nor while it waits for live events), then waiting
        out a connection pool that a crowd has emptied for up to SUBSCRIBER_PATIENCE_S: a
        subscriber that joins in a crowd is late, not cut off."""
        deadline = time.monotonic() + SUBSCRIBER_PATIENCE_S
        attempt = 0
        while True:
            try:
                async with self.services.admission.admitted(), self.db() as db:
                    return await read(db)
            except PoolTimeout:
                wait_s = min(0.1 * 2**attempt, 2.0)
                if time.monotonic() + wait_s > deadline:
                    raise
                logger.warning("the connection pool is exhausted; a subscriber waits (%d)", attempt)
                attempt += 1
                await asyncio.sleep(wait_s)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.services.db)

    def scope(self, user_id: int | None) -> int:
        """The user whose data a request reads: the viewer's own, or any for an admin."""
        return owner_for(self.viewer, user_id)


Info = StrawberryInfo[Context, None]
