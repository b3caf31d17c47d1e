"""The five provider protocols against the fake provider over loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.support.fake_provider import (
    TGI_MODEL,
    FakeProvider,
    daily_quota,
    empty_choices,
    error,
    gemini_blocked,
    gemini_max_tokens,
    gemini_rate_limited,
    groq_rate_limited,
    hang,
    malformed_json,
    null_content,
    rate_limited,
    reply,
    respond,
    server_error,
    story,
    wrong_shape,
)
from trainer.teachers.anthropic import AnthropicTeacher
from trainer.teachers.base import (
    BadResponse,
    ConnectionFailed,
    GenerationRequest,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
    TeacherConfig,
    TeacherError,
    Timeout,
)
from trainer.teachers.gemini import GeminiTeacher
from trainer.teachers.http import HttpTeacher
from trainer.teachers.ollama import OllamaTeacher
from trainer.teachers.openai import OpenAITeacher
from trainer.teachers.retry import RetryPolicy
from trainer.teachers.tgi import TgiTeacher

KEY_ENV = "TEST_PROVIDER_KEY"
KEY = "sk-test-123"
SYSTEM = "You write short stories."
PROMPT = "A lighthouse keeper finds a door in the sea."
REQUEST = GenerationRequest(system=SYSTEM, prompt=PROMPT, seed=7)
TEACHER_TYPES: dict[str, type[HttpTeacher]] = {
    "openai": OpenAITeacher,
    "gemini": GeminiTeacher,
    "ollama": OllamaTeacher,
    "tgi": TgiTeacher,
    "anthropic": AnthropicTeacher,
}
PROVIDERS = list(TEACHER_TYPES)


class RecordingSleep:
    """A `RetryPolicy.sleep` that records each wait and yields without sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


MakeTeacher = Callable[..., HttpTeacher]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset_fake(fake: FakeProvider) -> None:
    fake.reset()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def make_teacher(fake: FakeProvider, sleep: RecordingSleep) -> AsyncIterator[MakeTeacher]:
    """Teachers of any provider pointed at the fake, with a tiny recording retry policy."""
    teachers: list[HttpTeacher] = []

    def make(
        provider: str,
        model: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> HttpTeacher:
        settings: dict[str, Any] = {
            "base_url": fake.base_url(provider),
            "api_key_env": None if provider == "ollama" else KEY_ENV,
            "timeout_s": 2.0,
        }
        settings.update(overrides)
        config = TeacherConfig(
            name=f"{provider}-teacher",
            provider=provider,
            model=model or model_for(provider),
            **settings,
        )
        policy = retry or RetryPolicy(
            max_attempts=4, base_wait_s=0.01, max_wait_s=100.0, max_total_s=200.0, sleep=sleep
        )
        teacher = TEACHER_TYPES[provider](
            config, env={KEY_ENV: KEY} if env is None else env, retry=policy
        )
        teachers.append(teacher)
        return teacher

    yield make
    for teacher in teachers:
        await teacher.aclose()


def model_for(provider: str) -> str:
    return TGI_MODEL if provider == "tgi" else f"{provider}-model"


async def fails(teacher: HttpTeacher, expected: type[TeacherError]) -> TeacherError:
    with pytest.raises(expected) as caught:
        await teacher.generate(REQUEST)
    return caught.value


# The wire format of each protocol.


async def test_openai_request_and_answer(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("openai", "llama-3.3-70b-versatile", temperature=0.7, top_p=0.9)
    generation = await teacher.generate(REQUEST)

    [sent] = fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "llama-3.3-70b-versatile",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 600,
        "seed": 7,
    }
    assert generation.text == story("llama-3.3-70b-versatile", PROMPT)
    assert generation.finish_reason == "stop"
    assert generation.prompt_tokens == len(PROMPT.split())
    assert generation.completion_tokens == len(generation.text.split())
    assert generation.latency_ms >= 0


async def test_openai_sends_no_seed_when_none(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    await make_teacher("openai").generate(GenerationRequest(system=SYSTEM, prompt=PROMPT))
    assert "seed" not in fake.requests[0].json
    assert "max_completion_tokens" not in fake.requests[0].json


async def test_gemini_request_and_answer(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("gemini", "gemini-2.5-flash", max_tokens=300)
    generation = await teacher.generate(REQUEST)

    [sent] = fake.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"temperature": 0.8, "topP": 0.95, "maxOutputTokens": 300, "seed": 7},
    }
    assert generation.text == story("gemini-2.5-flash", PROMPT)
    assert generation.finish_reason == "STOP"
    assert generation.prompt_tokens == len(PROMPT.split())
    assert generation.completion_tokens == len(generation.text.split())


async def test_ollama_request_and_answer(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    fake.faults.set_latency("llama3.2", 0.05)
    generation = await make_teacher("ollama", "llama3.2", temperature=0.6).generate(REQUEST)

    [sent] = fake.requests
    assert sent.path == "/api/chat"
    assert sent.json == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "stream": False,
        "options": {"temperature": 0.6, "top_p": 0.95, "num_predict": 600, "seed": 7},
    }
    assert generation.text == story("llama3.2", PROMPT)
    assert generation.finish_reason == "stop"
    assert generation.prompt_tokens == len(PROMPT.split())
    assert generation.completion_tokens == len(generation.text.split())
    # total_duration is in nanoseconds: about 50 ms of held answer, not 50 million.
    assert 40 <= generation.latency_ms < 1000


@pytest.mark.parametrize("host", ["{url}", "127.0.0.1:{port}"])
async def test_ollama_host_from_the_environment(
    fake: FakeProvider, make_teacher: MakeTeacher, host: str
) -> None:
    port = fake.url.rsplit(":", 1)[1]
    env = {"OLLAMA_HOST": host.format(url=fake.url, port=port)}
    teacher = make_teacher("ollama", base_url=None, env=env)
    assert teacher.available
    assert (await teacher.generate(REQUEST)).text == story(model_for("ollama"), PROMPT)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("gpu-box", "http://gpu-box:11434/api/chat"),
        ("gpu-box:8000", "http://gpu-box:8000/api/chat"),
        ("https://ollama.example.com", "https://ollama.example.com/api/chat"),
    ],
)
async def test_ollama_host_is_read_as_ollama_reads_it(host: str, url: str) -> None:
    config = TeacherConfig(name="o", provider="ollama", model="llama3.2")
    assert OllamaTeacher(config, env={"OLLAMA_HOST": host}).url == url


async def test_teachers_go_through_the_proxy_the_environment_names(
    fake: FakeProvider, make_teacher: MakeTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake answers the absolute-form requests a forward proxy receives, so the story
    # comes back only if the request went through it, not to the unresolvable host.
    monkeypatch.setenv("HTTP_PROXY", fake.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    teacher = make_teacher("openai", base_url="http://provider.invalid/v1")
    assert (await teacher.generate(REQUEST)).text == story(model_for("openai"), PROMPT)


async def test_no_proxy_exempts_a_host(
    make_teacher: MakeTeacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    teacher = make_teacher("openai")
    assert (await teacher.generate(REQUEST)).text


async def test_ollama_host_variable_named_by_api_key_env(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    teacher = make_teacher(
        "ollama", base_url=None, api_key_env="GPU_BOX", env={"GPU_BOX": fake.url}
    )
    assert (await teacher.generate(REQUEST)).text


async def test_tgi_request_clamps_and_answer(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("tgi", temperature=0.0, top_p=1.0, max_tokens=200)
    generation = await teacher.generate(REQUEST)

    [sent] = fake.requests
    assert sent.path == "/generate"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "inputs": f"{SYSTEM}\n\n{PROMPT}",
        "parameters": {
            "max_new_tokens": 200,
            "temperature": 0.01,
            "top_p": 0.99,
            "return_full_text": False,
            "details": True,
            "seed": 7,
        },
    }
    assert generation.text == story(TGI_MODEL, f"{SYSTEM}\n\n{PROMPT}")
    assert generation.finish_reason == "eos_token"
    assert generation.completion_tokens == len(generation.text.split())
    assert generation.prompt_tokens is None


async def test_tgi_keeps_values_inside_its_ranges(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    await make_teacher("tgi", api_key_env=None, temperature=1.2, top_p=0.5).generate(REQUEST)
    [sent] = fake.requests
    assert "authorization" not in sent.headers
    assert sent.json["parameters"]["temperature"] == 1.2
    assert sent.json["parameters"]["top_p"] == 0.5


async def test_anthropic_request_and_answer(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("anthropic", "claude-sonnet-4-5", temperature=0.5, max_tokens=400)
    generation = await teacher.generate(REQUEST)

    [sent] = fake.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 400,
        "temperature": 0.5,
    }
    assert generation.text == story("claude-sonnet-4-5", PROMPT)
    assert generation.finish_reason == "end_turn"
    assert generation.prompt_tokens == len(PROMPT.split())
    assert generation.completion_tokens == len(generation.text.split())


async def test_anthropic_temperature_is_capped_at_one(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    await make_teacher("anthropic", temperature=1.6).generate(REQUEST)
    assert fake.requests[0].json["temperature"] == 1.0


async def test_anthropic_joins_text_blocks_only(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    body = {
        "content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "Once upon "},
            {"type": "text", "text": "a time."},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    fake.faults.plan(model_for("anthropic"), respond(body))
    assert (await make_teacher("anthropic").generate(REQUEST)).text == "Once upon a time."


# Keys and availability.


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
async def test_a_missing_key_is_refused_by_the_provider(
    fake: FakeProvider, make_teacher: MakeTeacher, provider: str
) -> None:
    refused = await fails(make_teacher(provider, api_key_env=None), Refused)
    assert refused.status == 401
    assert refused.reason.startswith("HTTP 401: ")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic", "tgi"])
async def test_an_unset_key_makes_the_teacher_unavailable(
    fake: FakeProvider, make_teacher: MakeTeacher, provider: str
) -> None:
    teacher = make_teacher(provider, env={})
    assert not teacher.available
    refused = await fails(teacher, Refused)
    assert refused.reason == f"not configured: {KEY_ENV} is not set"
    assert fake.requests == []


async def test_ollama_without_a_host_is_unavailable(make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("ollama", base_url=None, env={})
    assert not teacher.available
    assert (await fails(teacher, Refused)).reason == "not configured: OLLAMA_HOST is not set"


async def test_the_teacher_describes_itself(make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("gemini")
    assert (teacher.name, teacher.available, teacher.offline) == ("gemini-teacher", True, False)


# Rate limits: retried, waiting as long as the server asked.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_retry_after_ms_is_honoured(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep, provider: str
) -> None:
    fake.faults.plan(model_for(provider), rate_limited(retry_after_ms=50))
    assert (await make_teacher(provider).generate(REQUEST)).text
    assert sleep.waits == [0.05]
    assert len(fake.requests) == 2


async def test_retry_after_seconds_is_honoured(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep
) -> None:
    fake.faults.plan("openai-model", rate_limited(retry_after="3"))
    assert (await make_teacher("openai").generate(REQUEST)).text
    assert sleep.waits == [3.0]


async def test_retry_after_date_is_honoured(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    fake.faults.plan("anthropic-model", rate_limited(retry_after=when))
    assert (await make_teacher("anthropic").generate(REQUEST)).text
    [wait] = sleep.waits
    assert 3.0 < wait <= 5.0


async def test_gemini_retry_info_is_honoured(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep
) -> None:
    fake.faults.plan("gemini-model", gemini_rate_limited("1.5s"), gemini_rate_limited("12s"))
    assert (await make_teacher("gemini").generate(REQUEST)).text
    assert sleep.waits == [1.5, 12.0]


@pytest.mark.parametrize(("wait", "seconds"), [("1.2s", 1.2), ("1m2.5s", 62.5), ("250ms", 0.25)])
async def test_groq_try_again_message_is_honoured(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep, wait: str, seconds: float
) -> None:
    fake.faults.plan("llama-3.1-8b-instant", groq_rate_limited(wait))
    assert (await make_teacher("openai", "llama-3.1-8b-instant").generate(REQUEST)).text
    assert sleep.waits == [pytest.approx(seconds)]


async def test_a_hint_is_waited_for_real(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    fake.faults.plan("openai-model", rate_limited(retry_after_ms=80))
    teacher = make_teacher("openai", retry=RetryPolicy(max_wait_s=1.0, max_total_s=5.0))
    started = time.perf_counter()
    assert (await teacher.generate(REQUEST)).text
    assert time.perf_counter() - started >= 0.08


async def test_a_hint_past_the_budget_is_not_waited_for(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep
) -> None:
    fake.faults.plan("gemini-model", gemini_rate_limited("40s"))
    policy = RetryPolicy(max_attempts=4, max_wait_s=60.0, max_total_s=30.0, sleep=sleep)
    limited = await fails(make_teacher("gemini", retry=policy), RateLimited)
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 40.0
    assert limited.reason.startswith("HTTP 429: You exceeded your current quota")
    assert sleep.waits == []
    assert len(fake.requests) == 1


async def test_rate_limits_until_attempts_run_out(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep
) -> None:
    fake.faults.plan("openai-model", *(rate_limited(retry_after_ms=10) for _ in range(5)))
    limited = await fails(make_teacher("openai"), RateLimited)
    assert limited.status == 429
    assert len(fake.requests) == 4
    assert fake.faults.remaining("openai-model") == 1
    assert sleep.waits == [0.01, 0.01, 0.01]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_daily_quota_is_final(
    fake: FakeProvider, make_teacher: MakeTeacher, sleep: RecordingSleep, provider: str
) -> None:
    fake.faults.plan(model_for(provider), daily_quota())
    quota = await fails(make_teacher(provider), QuotaExhausted)
    assert quota.status == 429
    assert "per day" in quota.reason
    assert len(fake.requests) == 1
    assert sleep.waits == []


async def test_groq_tokens_per_day_is_final(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    message = (
        "Rate limit reached for model `llama-3.3-70b-versatile` on tokens per day (TPD): "
        "Limit 100000, Used 99800, Requested 600. Please try again in 7m12.5s."
    )
    fake.faults.plan("openai-model", error(429, message, code="rate_limit_exceeded"))
    await fails(make_teacher("openai"), QuotaExhausted)
    assert len(fake.requests) == 1


async def test_payment_required_is_final(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    message = "You have exceeded your monthly included credits for Inference Providers."
    fake.faults.plan("openai-model", error(402, message))
    quota = await fails(make_teacher("openai"), QuotaExhausted)
    assert quota.reason == f"HTTP 402: {message}"


# Server errors: retried with backoff.


@pytest.mark.parametrize(("provider", "status"), [("openai", 500), ("gemini", 503), ("tgi", 502)])
async def test_server_errors_are_retried(
    fake: FakeProvider,
    make_teacher: MakeTeacher,
    sleep: RecordingSleep,
    provider: str,
    status: int,
) -> None:
    fake.faults.plan(model_for(provider), server_error(status), server_error(status))
    assert (await make_teacher(provider).generate(REQUEST)).text
    assert len(fake.requests) == 3
    assert len(sleep.waits) == 2
    assert all(0 <= wait <= 0.02 for wait in sleep.waits)


async def test_anthropic_overloaded_is_retried(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("anthropic-model", server_error(529))
    assert (await make_teacher("anthropic").generate(REQUEST)).text
    assert len(fake.requests) == 2


async def test_persistent_server_errors_end_as_server_error(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("ollama-model", *(server_error(500) for _ in range(4)))
    failed = await fails(make_teacher("ollama"), ServerError)
    assert failed.reason == "HTTP 500: The server had an error"
    assert failed.status == 500
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("provider", "status", "message"),
    [
        ("openai", 400, "max_tokens is too large"),
        ("gemini", 403, "Permission denied"),
        ("ollama", 404, 'model "llama9" not found, try pulling it first'),
        ("tgi", 422, "Input validation error: `top_p` must be > 0.0 and < 1.0"),
        ("anthropic", 400, "temperature and top_p cannot both be specified"),
    ],
)
async def test_client_errors_are_refused_once(
    fake: FakeProvider, make_teacher: MakeTeacher, provider: str, status: int, message: str
) -> None:
    fake.faults.plan(model_for(provider), error(status, message))
    refused = await fails(make_teacher(provider), Refused)
    assert refused.reason == f"HTTP {status}: {message}"
    assert refused.status == status
    assert len(fake.requests) == 1


# Timeouts and unreachable servers.


async def test_a_hang_times_out_then_the_retry_succeeds(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("openai-model", hang(5))
    assert (await make_teacher("openai", timeout_s=0.2).generate(REQUEST)).text
    assert len(fake.requests) == 2


async def test_hangs_end_as_timeout(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    fake.faults.plan("gemini-model", hang(5), hang(5))
    policy = RetryPolicy(max_attempts=2, base_wait_s=0.01, max_wait_s=0.01)
    started = time.perf_counter()
    timeout = await fails(make_teacher("gemini", timeout_s=0.2, retry=policy), Timeout)
    assert timeout.reason == "no answer within 0.2s"
    assert 0.4 <= time.perf_counter() - started < 2.0


async def test_an_unreachable_server_is_connection_failed(make_teacher: MakeTeacher) -> None:
    teacher = make_teacher("openai", base_url="http://127.0.0.1:9/v1")
    failed = await fails(teacher, ConnectionFailed)
    assert failed.reason.startswith("cannot reach http://127.0.0.1:9/v1")


# Answers that are not the protocol's shape.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_json_is_a_bad_response(
    fake: FakeProvider, make_teacher: MakeTeacher, provider: str
) -> None:
    fake.faults.plan(model_for(provider), malformed_json())
    bad = await fails(make_teacher(provider), BadResponse)
    assert bad.reason == 'not JSON: {"choices": ['
    assert len(fake.requests) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_json_of_the_wrong_shape_is_a_bad_response(
    fake: FakeProvider, make_teacher: MakeTeacher, provider: str
) -> None:
    fake.faults.plan(model_for(provider), wrong_shape())
    bad = await fails(make_teacher(provider), BadResponse)
    expected = (
        "no candidates"
        if provider == "gemini"
        else f'unexpected {provider} response: {{"result":"ok"}}'
    )
    assert bad.reason == expected
    assert len(fake.requests) == 1


async def test_gemini_blocked_prompt_is_refused(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("gemini-model", gemini_blocked("SAFETY"))
    refused = await fails(make_teacher("gemini"), Refused)
    assert refused.reason == "prompt blocked: SAFETY"
    assert len(fake.requests) == 1


async def test_gemini_candidate_without_content(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("gemini-model", gemini_max_tokens())
    bad = await fails(make_teacher("gemini"), BadResponse)
    assert bad.reason == "no content: finishReason MAX_TOKENS"
    assert len(fake.requests) == 1


async def test_openai_empty_choices(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    fake.faults.plan("openai-model", empty_choices())
    assert (await fails(make_teacher("openai"), BadResponse)).reason == "no choices"


async def test_openai_null_content(fake: FakeProvider, make_teacher: MakeTeacher) -> None:
    fake.faults.plan("openai-model", null_content("content_filter"))
    bad = await fails(make_teacher("openai"), BadResponse)
    assert bad.reason == "no content: finish_reason content_filter"


async def test_an_empty_text_is_a_bad_response(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.plan("anthropic-model", reply("   "))
    bad = await fails(make_teacher("anthropic"), BadResponse)
    assert bad.reason == "no content: stop_reason end_turn"


# Concurrency.


async def test_in_flight_calls_are_bounded_by_max_concurrency(
    fake: FakeProvider, make_teacher: MakeTeacher
) -> None:
    fake.faults.set_latency("openai-model", 0.1)
    teacher = make_teacher("openai", max_concurrency=2)
    started = time.perf_counter()
    generations = await asyncio.gather(*(teacher.generate(REQUEST) for _ in range(6)))
    assert len(generations) == 6
    assert time.perf_counter() - started >= 0.25  # three waves of two, not one of six
    assert all(generation.latency_ms < 300 for generation in generations)
