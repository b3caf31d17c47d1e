"""Users and their API tokens. A token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.errors import BadUserInput, Conflict, Forbidden, NotFound
from models.limits import ID_MAX
from models.tables import ApiToken, User

TOKEN_SCHEME = "chorus_"
PREFIX_LENGTH = 16
MIN_REVOKE_PREFIX = 10
MAX_TOKEN_CHARS = 200
# last_used_at is a hint for people reviewing tokens, not an audit log: writing it on every
# request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Tokens this process has revoked, counted: a process that keeps the users of tokens for a
# while (server.auth) forgets them all when the count moves, so its own revocations take
# effect at once.
_revocations = 0


def revocations() -> int:
    """How many tokens this process has revoked so far."""
    return _revocations


TOKEN_HINT = "create one with `chorus tokens create NAME` (or `chorus users create NAME`)."


def missing_token_message(token_given: bool) -> str:
    """What to tell a request that has no user: why, and how to get a token."""
    if token_given:
        return "The token is unknown or revoked; " + TOKEN_HINT
    return "Send `Authorization: Bearer <token>`; " + TOKEN_HINT


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(db: AsyncSession, name: str, *, is_admin: bool = False) -> User:
    name = name.strip()
    if not name or len(name) > 100:
        raise BadUserInput("A user name is 1 to 100 characters.", field="name")
    user = User(name=name, is_admin=is_admin)
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as error:
        await db.rollback()
        raise Conflict(
            f"A user named {name!r} already exists; `chorus tokens create {name}` makes it "
            "another token.",
            field="name",
        ) from error
    return user


async def users_with_token_counts(db: AsyncSession) -> Sequence[tuple[User, int]]:
    """Every user, by id, with how many live (unrevoked) tokens it has."""
    live_tokens = (
        select(func.count(ApiToken.id))
        .where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = await db.execute(select(User, live_tokens).order_by(User.id))
    return [(user, int(count)) for user, count in rows.tuples()]


async def user_by_name(db: AsyncSession, name: str) -> User:
    user = await db.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"No user named {name!r}; create it with `chorus users create {name}`.")
    return user


async def user_by_id(db: AsyncSession, user_id: int) -> User | None:
    return await db.get(User, user_id)


async def users_by_ids(db: AsyncSession, ids: Sequence[int]) -> Sequence[User]:
    return (await db.scalars(select(User).where(User.id.in_(ids)))).all()


async def create_token(db: AsyncSession, user: User, label: str | None = None) -> str:
    """A new token for `user`; the only time its plain text exists."""
    token = TOKEN_SCHEME + secrets.token_urlsafe(32)
    db.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            token_prefix=token[:PREFIX_LENGTH],
            label=label,
        )
    )
    await db.flush()
    return token


async def authenticate(db: AsyncSession, token: str, now: datetime | None = None) -> User | None:
    """The user a live token belongs to, or None for an unknown or revoked one (and for
    text that cannot be a token: tokens are ASCII, and a lone surrogate cannot be hashed)."""
    if not (token.isascii() and token.isprintable()) or len(token) > MAX_TOKEN_CHARS:
        return None
    row = (
        await db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = now or utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
        await db.execute(
            update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now)
        )
        await db.commit()
    return user


async def revoke_token(db: AsyncSession, prefix: str) -> ApiToken:
    """Revoke the one live token that starts with `prefix` (or is exactly the token given)."""
    if len(prefix) > PREFIX_LENGTH:
        query = select(ApiToken).where(ApiToken.token_hash == hash_token(prefix))
    elif len(prefix) < MIN_REVOKE_PREFIX:
        raise BadUserInput(
            f"Give at least the first {MIN_REVOKE_PREFIX} characters of the token.", field="prefix"
        )
    else:
        query = select(ApiToken).where(ApiToken.token_prefix.startswith(prefix, autoescape=True))
    matches = (await db.scalars(query.where(ApiToken.revoked_at.is_(None)))).all()
    if not matches:
        raise NotFound(f"No live token starts with {prefix!r}.")
    if len(matches) > 1:
        raise BadUserInput(
            f"{len(matches)} tokens start with {prefix!r}; give more characters.", field="prefix"
        )
    global _revocations
    matches[0].revoked_at = utcnow()
    await db.flush()
    _revocations += 1
    return matches[0]


def owner_for(caller: User, requested: int | None, field: str = "userId") -> int:
    """Whose data a request reads or writes: the caller's own, or anyone's for an admin."""
    if requested is None or requested == caller.id:
        return caller.id
    if not caller.is_admin:
        raise Forbidden(
            f"Only an admin may name another user in `{field}`; your own user id is {caller.id}."
        )
    if not 1 <= requested <= ID_MAX:
        raise NotFound(f"There is no user with id {requested}.", field=field)
    return requested


async def owner_of(db: AsyncSession, user_id: int) -> User:
    """The user `owner_for` chose; BadUserInput when that id names no one."""
    owner = await user_by_id(db, user_id)
    if owner is None:
        raise BadUserInput(f"There is no user with id {user_id}.", field="userId")
    return owner
