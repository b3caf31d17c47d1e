"""The server's retry hints in every form, and the retry policy's waits and caps."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from trainer.teachers.base import (
    BadResponse,
    ConnectionFailed,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
    TeacherError,
    Timeout,
)
from trainer.teachers.retry import (
    RetryPolicy,
    parse_duration,
    parse_retry_after,
    parse_retry_after_ms,
    parse_retry_info,
    parse_try_again,
    retry_hint,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class RecordingSleep:
    """A `RetryPolicy.sleep` that records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def gemini_error(*details: object) -> dict[str, object]:
    return {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": list(details)}}


def retry_info(delay: str) -> dict[str, str]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12s", 12.0),
        ("1.5s", 1.5),
        ("7.66s", 7.66),
        ("1m2.5s", 62.5),
        ("250ms", 0.25),
        ("1h2m", 3720.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "12", "soon", "1.5 s", "-3s", "12x"])
def test_parse_duration_rejects_other_text(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1500", 1.5), ("50", 0.05), (" 20.5 ", 0.0205), ("x", None), ("-5", None)],
)
def test_parse_retry_after_ms(value: str, seconds: float | None) -> None:
    assert parse_retry_after_ms(value) == (pytest.approx(seconds) if seconds else None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Sat, 01 Mar 2025 12:00:07 GMT", 7.0),
        ("later", None),
        ("-1", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_parse_retry_after_date_defaults_to_now() -> None:
    value = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 < (parse_retry_after(value) or 0) <= 60


@pytest.mark.parametrize(
    ("payload", "seconds"),
    [
        (gemini_error(retry_info("12s")), 12.0),
        (gemini_error(retry_info("1.5s")), 1.5),
        (
            gemini_error(
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"}, retry_info("3s")
            ),
            3.0,
        ),
        (gemini_error({"@type": "type.googleapis.com/google.rpc.Help"}), None),
        (gemini_error(retry_info("whenever")), None),
        ({"error": {"message": "no details"}}, None),
        ({"error": "flat"}, None),
        ("not json", None),
        (None, None),
    ],
)
def test_parse_retry_info(payload: object, seconds: float | None) -> None:
    assert parse_retry_info(payload) == seconds


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached on tokens per minute (TPM). Please try again in 7.66s. Visit", 7.66),
        ("Please try again in 1m2.5s.", 62.5),
        ("please TRY AGAIN IN 250ms", 0.25),
        ("Please try again later.", None),
        ("", None),
    ],
)
def test_parse_try_again(message: str, seconds: float | None) -> None:
    assert parse_try_again(message) == (pytest.approx(seconds) if seconds else None)


def test_retry_hint_prefers_retry_after_ms() -> None:
    headers = httpx.Headers({"Retry-After-Ms": "250", "Retry-After": "9"})
    assert retry_hint(headers, gemini_error(retry_info("3s")), "try again in 4s") == 0.25


def test_retry_hint_then_retry_after() -> None:
    headers = httpx.Headers({"Retry-After": "9"})
    assert retry_hint(headers, gemini_error(retry_info("3s")), "try again in 4s") == 9.0


def test_retry_hint_then_retry_info() -> None:
    assert retry_hint(httpx.Headers(), gemini_error(retry_info("3s")), "try again in 4s") == 3.0


def test_retry_hint_then_message() -> None:
    assert retry_hint(httpx.Headers(), None, "Please try again in 4s.") == 4.0


def test_retry_hint_absent() -> None:
    assert retry_hint(httpx.Headers({"Retry-After": "soon"}), {}, "slow down") is None


class Flaky:
    """Fails with the given errors in turn, then answers "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def policy(sleep: RecordingSleep, **overrides: Any) -> RetryPolicy:
    small = RetryPolicy(base_wait_s=0.1, max_wait_s=1.0, max_total_s=10.0, sleep=sleep)
    return replace(small, **overrides)


@pytest.mark.parametrize(
    "error",
    [RateLimited("429"), ServerError("503"), ConnectionFailed("refused"), Timeout("slow")],
)
async def test_retryable_errors_are_retried(error: TeacherError) -> None:
    sleep = RecordingSleep()
    attempt = Flaky(error, error)
    assert await policy(sleep).call(attempt) == "done"
    assert attempt.calls == 3
    assert len(sleep.waits) == 2


@pytest.mark.parametrize(
    "error", [Refused("400"), QuotaExhausted("daily"), BadResponse("shape"), ValueError("bug")]
)
async def test_final_errors_are_not_retried(error: Exception) -> None:
    sleep = RecordingSleep()
    attempt = Flaky(error)
    with pytest.raises(type(error)):
        await policy(sleep).call(attempt)
    assert attempt.calls == 1
    assert sleep.waits == []


async def test_the_hint_is_the_wait() -> None:
    sleep = RecordingSleep()
    await policy(sleep).call(
        Flaky(RateLimited("429", retry_after=0.25), RateLimited("429", retry_after=0.5))
    )
    assert sleep.waits == [0.25, 0.5]


async def test_a_hint_is_capped_per_wait() -> None:
    sleep = RecordingSleep()
    await policy(sleep, max_wait_s=0.3).call(Flaky(RateLimited("429", retry_after=7.66)))
    assert sleep.waits == [0.3]


async def test_backoff_without_a_hint_is_full_jitter_exponential() -> None:
    sleep = RecordingSleep()
    errors = [ServerError("500") for _ in range(6)]
    await policy(sleep, max_attempts=7, base_wait_s=0.1, max_wait_s=0.5).call(Flaky(*errors))
    ceilings = [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert len(sleep.waits) == len(ceilings)
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(sleep.waits, ceilings, strict=True))


async def test_max_attempts_then_the_last_error() -> None:
    sleep = RecordingSleep()
    attempt = Flaky(*(ServerError(f"try {n}") for n in range(1, 10)))
    with pytest.raises(ServerError, match="try 3"):
        await policy(sleep, max_attempts=3).call(attempt)
    assert attempt.calls == 3


async def test_no_attempt_past_the_total_budget() -> None:
    sleep = RecordingSleep()
    attempt = Flaky(RateLimited("429", retry_after=5.0))
    with pytest.raises(RateLimited):
        await policy(sleep, max_wait_s=10.0, max_total_s=2.0).call(attempt)
    assert attempt.calls == 1
    assert sleep.waits == []


async def test_the_budget_counts_the_first_attempt() -> None:
    sleep = RecordingSleep()

    async def slow_then_limited() -> str:
        await asyncio.sleep(0.2)
        raise RateLimited("429", retry_after=0.1)

    with pytest.raises(RateLimited):
        await policy(sleep, max_total_s=0.25).call(slow_then_limited)
    assert sleep.waits == []


async def test_the_default_policy_sleeps_for_real() -> None:
    attempt = Flaky(RateLimited("429", retry_after=0.05))
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    assert await RetryPolicy().call(attempt) == "done"
    assert loop_time() - started >= 0.05
