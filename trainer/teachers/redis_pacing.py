"""Pacing through Redis, so that every process running sessions shares each teacher's budget
(see trainer.teachers.pacing), and the choice between it and pacing in memory."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError

from trainer.teachers.base import TeacherConfig
from trainer.teachers.pacing import MemoryPacing, Pace, Pacing, limited, pieces, window

logger = logging.getLogger("chorus.teachers")

_REDIS_KEY_PREFIX = "chorus-pace"


def open_pacing(url: str) -> Pacing:
    """The pacing `url` names: `memory://`, or `redis://host:port` (`rediss://` too)."""
    if url.startswith("memory://"):
        return MemoryPacing()
    if url.startswith(("redis://", "rediss://")):
        return RedisPacing(url)
    raise ValueError(f"cannot pace teachers' calls through {url!r}: use memory:// or redis://")


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
        if not limited(config):
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
