"""When to try a teacher call again, and how long to wait first.

Only errors whose `retryable` is True are retried (RateLimited, ServerError, ConnectionFailed,
Timeout). The wait is the server's hint when it gave one, else exponential backoff with full
jitter; every wait is capped, and no attempt starts once the total budget would be exceeded.

Servers give their hint in several forms, each read by a pure function below:

- `retry-after-ms: 1500` (OpenAI-compatible servers)
- `Retry-After: 12` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110)
- Gemini's `error.details[]` entry of type `google.rpc.RetryInfo` with `retryDelay: "12s"`
- the message text "Please try again in 7.66s" (Groq, OpenAI; also "1m2.5s", "250ms")
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from trainer.teachers.base import RateLimited, TeacherError

T = TypeVar("T")

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_TRY_AGAIN = re.compile(r"try again in\s+(" + _DURATION.pattern + ")", re.IGNORECASE)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def parse_duration(text: str) -> float | None:
    """Seconds in a Go or protobuf duration: "12s", "1.5s", "1m2.5s", "250ms", "1h2m"."""
    text = text.strip()
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(value) * _UNIT_SECONDS[unit] for value, unit in _DURATION_PART.findall(text))


def parse_retry_after_ms(value: str) -> float | None:
    """Seconds in a `retry-after-ms` header."""
    value = value.strip()
    return float(value) / 1000 if _NUMBER.fullmatch(value) else None


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds in a `Retry-After` header: delay-seconds, or an HTTP date (0 once it is past)."""
    value = value.strip()
    if _NUMBER.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def parse_retry_info(payload: Any) -> float | None:
    """Seconds in the `retryDelay` of a Gemini error's RetryInfo detail."""
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            return parse_duration(delay) if isinstance(delay, str) else None
    return None


def parse_try_again(message: str) -> float | None:
    """Seconds in a message such as "Please try again in 7.66s"."""
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None


def retry_hint(headers: Mapping[str, str], payload: Any, message: str) -> float | None:
    """The server's hint, first found of: retry-after-ms, Retry-After, RetryInfo, message text.
    `headers` must look names up case-insensitively, as HTTP clients' header maps do."""
    hints = (
        parse_retry_after_ms(headers.get("retry-after-ms", "")),
        parse_retry_after(headers.get("retry-after", "")),
        parse_retry_info(payload),
        parse_try_again(message),
    )
    return next((seconds for seconds in hints if seconds is not None), None)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, TeacherError) and error.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How a teacher call is retried; tests use tiny values and a recording `sleep`."""

    max_attempts: int = 5
    base_wait_s: float = 1.0
    max_wait_s: float = 20.0
    max_total_s: float = 90.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def _wait(self, state: RetryCallState) -> float:
        """The server's hint when the last error carried one, else full-jitter backoff; capped."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait_s)
        backoff = wait_random_exponential(multiplier=self.base_wait_s, max=self.max_wait_s)
        return backoff(state)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        retried: Callable[[TeacherError], None] | None = None,
    ) -> T:
        """Await `attempt()` until it succeeds, raises a final error, or the budget runs out;
        `retried(error)` hears of each error that is tried again."""
        # Most calls succeed at once; tenacity's per-call setup (about 40 us) is paid only
        # by those that failed. Their first failure is replayed to tenacity as its first
        # attempt, so the waits, the attempt count and the budget are as if it made it.
        started = time.monotonic()
        try:
            return await attempt()
        except Exception as error:
            if not _retryable(error) or self.max_attempts <= 1:
                raise
            first_failure: Exception | None = error
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts)
            | stop_before_delay(self.max_total_s - (time.monotonic() - started)),
            sleep=self.sleep,
            before_sleep=_telling(retried),
            reraise=True,
        )

        # tenacity awaits what coroutine functions return, not what other callables return.
        async def once() -> T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await attempt()

        return await retrying(once)


def _telling(
    retried: Callable[[TeacherError], None] | None,
) -> Callable[[RetryCallState], None] | None:
    """tenacity's `before_sleep`, which it calls once before each retry, passing on the
    error that is tried again to `retried`."""
    if retried is None:
        return None

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TeacherError):
            retried(error)

    return before_sleep
