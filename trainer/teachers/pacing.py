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

One interface, `Pacing`, two kinds, chosen at start by `open_pacing`
(trainer.teachers.redis_pacing, which alone loads the Redis client):

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

from aiolimiter import AsyncLimiter

from trainer.teachers.base import TeacherConfig

logger = logging.getLogger("chorus.teachers")

CHARS_PER_TOKEN = 4
# Each message's role and separators, in the chat templates providers apply.
_MESSAGE_OVERHEAD_TOKENS = 8


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


def limited(config: TeacherConfig) -> bool:
    return config.requests_per_minute is not None or config.tokens_per_minute is not None


class MemoryPacing:
    """Paces in this process: one leaky bucket per teacher and limit."""

    def __init__(self) -> None:
        self._paces: dict[str, _MemoryPace] = {}

    def pace(self, config: TeacherConfig) -> Pace | None:
        if not limited(config):
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
