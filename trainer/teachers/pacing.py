"""Pacing each teacher's calls to its provider's limits: `requests_per_minute` and
`tokens_per_minute` in the teachers file.

A provider answers 429 once a key's calls pass its limits, and a retry then waits for its
hint; a session against a 30-requests-a-minute teacher would spend its time in 429s. So a
call waits for its turn before it is sent, every attempt of it, and each teacher's calls
are paced by one budget however many sessions make them.

Tokens are counted before the call, as OpenAI's own limiter counts them: the prompt's
estimated tokens (about four characters a token) plus the call's `max_tokens`, the most it
may use. That is never less than a call's real use when the estimate is fair, so the pace
holds whatever the answers turn out to be, with no correction once they are in.

One interface, `Pacing`, two kinds, chosen at start by `open_pacing`:

- `memory://`: one process runs every session; aiolimiter's leaky buckets pace requests one
  at a time, `60 / requests_per_minute` seconds apart, and tokens at `tokens_per_minute / 60`
  a second.
- `redis://...`: several processes run sessions and share each teacher's budget through
  Redis, with the `limits` package: requests in a moving window (never more than the
  window's share), tokens in a sliding window counter (two counters per teacher, however
  many tokens). Each window is the shortest whole number of seconds in which the limit is a
  whole number, so a minute never holds more than the limit. If Redis fails, calls go on
  unpaced and the failure is logged: the provider's 429s are retried as always.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from typing import Protocol

import redis.asyncio
from aiolimiter import AsyncLimiter
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError

from trainer.teachers.base import TeacherConfig

logger = logging.getLogger("chorus.teachers")

CHARS_PER_TOKEN = 4
# Each message's role and separators, in the chat templates providers apply.
_MESSAGE_OVERHEAD_TOKENS = 8
_REDIS_KEY_PREFIX = "chorus-pace"


def estimated_tokens(text: str) -> int:
    """Tokens `text` takes in a prompt, estimated from its length."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) + _MESSAGE_OVERHEAD_TOKENS


def call_tokens(system: str, prompt: str, max_tokens: int) -> int:
    """What a call counts against a tokens-per-minute limit: its estimated prompt and the
    most it may answer."""
    return estimated_tokens(system) + estimated_tokens(prompt) + max_tokens


def window(per_minute: int) -> tuple[int, int]:
    """`(amount, seconds)`: the shortest whole number of seconds in which `per_minute` is a
    whole amount (600 a minute is 10 a second, 45 a minute 3 in 4 seconds)."""
    seconds = 60 // math.gcd(per_minute, 60)
    return per_minute * seconds // 60, seconds


def pieces(amount: int, largest: int) -> Iterator[int]:
    """`amount` split into pieces of at most `largest`: a call may count more tokens than
    one window holds, and takes them a window's share at a time."""
    while amount > 0:
        piece = min(amount, largest)
        yield piece
        amount -= piece


class Pace(Protocol):
    async def wait(self, tokens: int) -> None:
        """Return when a call that counts `tokens` tokens may be sent."""


class Pacing(Protocol):
    """Where each teacher's pace is kept."""

    def pace(self, config: TeacherConfig) -> Pace | None:
        """The pace of the teacher `config` describes; None when it has no limits."""

    async def aclose(self) -> None: ...


def open_pacing(url: str) -> Pacing:
    """The pacing `url` names: `memory://`, or `redis://host:port` (`rediss://` too)."""
    if url.startswith("memory://"):
        return MemoryPacing()
    if url.startswith(("redis://", "rediss://")):
        return RedisPacing(url)
    raise ValueError(f"cannot pace teachers' calls through {url!r}: use memory:// or redis://")


def _limited(config: TeacherConfig) -> bool:
    return config.requests_per_minute is not None or config.tokens_per_minute is not None


class MemoryPacing:
    """Paces in this process: one leaky bucket per teacher and limit."""

    def __init__(self) -> None:
        self._paces: dict[str, _MemoryPace] = {}

    def pace(self, config: TeacherConfig) -> Pace | None:
        if not _limited(config):
            return None
        return self._paces.setdefault(config.name, _MemoryPace(config))

    async def aclose(self) -> None:
        self._paces.clear()


class _MemoryPace:
    def __init__(self, config: TeacherConfig) -> None:
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        # One at a time: a bucket of one request, emptied in 60 / rpm seconds.
        self._requests = AsyncLimiter(1, 60 / rpm) if rpm else None
        self._tokens = AsyncLimiter(*window(tpm)) if tpm else None
        # Calls take their tokens and then their request in turn, so that each is sent as
        # soon as it has both, in the order it got them.
        self._turn = asyncio.Lock()

    async def wait(self, tokens: int) -> None:
        async with self._turn:
            if self._tokens is not None:
                for piece in pieces(tokens, int(self._tokens.max_rate)):
                    await self._tokens.acquire(piece)
            if self._requests is not None:
                await self._requests.acquire()


class RedisPacing:
    """Paces through Redis, so that every process shares each teacher's budget."""

    def __init__(self, url: str) -> None:
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            key_prefix=_REDIS_KEY_PREFIX,
            wrap_exceptions=True,
            # Documented by `limits`, though its annotation allows only plain options; the
            # pool is ours, so that closing our client closes its connections.
            connection_pool=self._client.connection_pool,  # type: ignore[arg-type]
        )
        self._requests = MovingWindowRateLimiter(storage)
        self._tokens = SlidingWindowCounterRateLimiter(storage)
        self._paces: dict[str, _RedisPace] = {}

    def pace(self, config: TeacherConfig) -> Pace | None:
        if not _limited(config):
            return None
        if config.name not in self._paces:
            self._paces[config.name] = _RedisPace(config, self._requests, self._tokens)
        return self._paces[config.name]

    async def aclose(self) -> None:
        await self._client.aclose()


class _RedisPace:
    def __init__(self, config: TeacherConfig, requests: RateLimiter, tokens: RateLimiter) -> None:
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        self._name = config.name
        self._requests = (requests, RateLimitItemPerSecond(*window(rpm))) if rpm else None
        self._tokens = (tokens, RateLimitItemPerSecond(*window(tpm))) if tpm else None
        self._turn = asyncio.Lock()

    async def wait(self, tokens: int) -> None:
        async with self._turn:
            try:
                if self._tokens is not None:
                    limiter, item = self._tokens
                    for piece in pieces(tokens, item.amount):
                        await self._take(limiter, item, "tokens", piece)
                if self._requests is not None:
                    await self._take(*self._requests, "requests", 1)
            except StorageError as error:
                logger.warning(
                    "pacing %s through Redis failed, calling unpaced: %s", self._name, error
                )

    async def _take(self, limiter: RateLimiter, item: RateLimitItem, kind: str, cost: int) -> None:
        while not await limiter.hit(item, self._name, kind, cost=cost):
            stats = await limiter.get_window_stats(item, self._name, kind)
            # As long as the window takes to free what is missing at its average pace; no
            # more often than every 10 ms.
            missing = cost - stats.remaining
            await asyncio.sleep(max(missing * item.get_expiry() / item.amount, 0.01))
