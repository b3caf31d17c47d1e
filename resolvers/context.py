"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from models.errors import Unauthenticated
from models.tables import User
from models.users import missing_token_message, owner_for
from server.services import Services

if TYPE_CHECKING:
    from resolvers.loaders import Loaders


@dataclass
class Context:
    services: Services
    user: User | None
    request_id: str
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    token_given: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def viewer(self) -> User:
        if self.user is None:
            raise Unauthenticated(missing_token_message(self.token_given))
        return self.user

    def db(self) -> AsyncSession:
        """A short-lived session: resolvers run concurrently, and an AsyncSession must not."""
        return self.services.db()

    @cached_property
    def loaders(self) -> Loaders:
        from resolvers.loaders import Loaders

        return Loaders(self.services.db)

    def scope(self, user_id: int | None) -> int:
        """The user whose data a request reads: the viewer's own, or any for an admin."""
        return owner_for(self.viewer, user_id)


Info = StrawberryInfo[Context, None]
