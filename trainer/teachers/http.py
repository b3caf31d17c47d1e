"""The shared base of the network teachers: one client, bounded concurrency, error mapping.

A provider adapter says where to POST, which headers carry the key, how the body is built
and how the answer is read; everything else (retries, timeouts, HTTP errors, judging) is here.

Teacher calls go through aiohttp: a session of N examples makes 14 N of them with JURY
voting, and at 50 in flight aiohttp spends about 0.2 ms of CPU on each against httpx's 6 ms
(httpcore scans its whole pool on every request); see bench/README.md.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from trainer.metrics import teacher_metrics
from trainer.teachers.base import (
    BadResponse,
    ConnectionFailed,
    Generation,
    GenerationRequest,
    JudgeRequest,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
    TeacherConfig,
    TeacherError,
    Timeout,
    Verdict,
)
from trainer.teachers.pacing import Pace, call_tokens
from trainer.teachers.retry import RetryPolicy, retry_hint

JUDGE_SYSTEM = "You are a strict, fair judge of short stories."
JUDGE_TEMPERATURE = 0.0
JUDGE_TOP_P = 1.0
JUDGE_MAX_TOKENS = 16

_REASON_LENGTH = 200
# Gemini's per-minute 429 also says "check your plan and billing details", so billing is
# recognised by these narrower phrases only.
_QUOTA_MARKERS = (
    "insufficient_quota",
    "per day",
    "perday",
    "daily",
    "spend limit",
    "spending limit",
    "billing_hard_limit",
    "billing hard limit",
    "credit balance",
    "included credits",
)


@dataclass(frozen=True)
class Reply:
    """A provider's HTTP answer, read in full; `headers` is case-insensitive."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return orjson.loads(self.body)


@dataclass(frozen=True)
class ChatCall:
    """One call to a provider: the instruction, the prompt and the sampling to use."""

    system: str
    prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None


class HttpTeacher(ABC):
    """A teacher behind an HTTP API, holding one `aiohttp.ClientSession` for its lifetime.

    The session is opened on the first call, inside the event loop that makes it."""

    # A judge answers with one label; providers whose thinking counts against the output
    # limit get more room (see GeminiTeacher).
    judge_max_tokens: ClassVar[int] = JUDGE_MAX_TOKENS

    default_base_url: ClassVar[str | None] = None
    finish_field: ClassVar[str] = "finish_reason"

    def __init__(
        self,
        config: TeacherConfig,
        *,
        env: Mapping[str, str],
        retry: RetryPolicy | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.config = config
        self._unmet = self.unmet_requirement(config, env)
        self._retry = retry or RetryPolicy()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._pace = pace
        key = env.get(config.api_key_env) if config.api_key_env else None
        self._base = self._base_url(env).rstrip("/")
        self._proxy = env_proxy(self.url)
        self._request_headers = {**self._headers(key or None), "Content-Type": "application/json"}
        self._http: aiohttp.ClientSession | None = None
        self._metrics = teacher_metrics(config.name)

    @classmethod
    def unmet_requirement(cls, config: TeacherConfig, env: Mapping[str, str]) -> str | None:
        """What this teacher needs and does not have (e.g. "GROQ_API_KEY is not set")."""
        if config.base_url is None and cls.default_base_url is None:
            return "base_url is not set"
        if config.api_key_env and not env.get(config.api_key_env):
            return f"{config.api_key_env} is not set"
        return None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def url(self) -> str:
        """Where this teacher's calls are POSTed."""
        return f"{self._base}/{self._endpoint().lstrip('/')}"

    @property
    def available(self) -> bool:
        return self._unmet is None

    @property
    def offline(self) -> bool:
        return False

    async def generate(self, request: GenerationRequest) -> Generation:
        call = ChatCall(
            system=request.system,
            prompt=request.prompt,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            max_tokens=self.config.max_tokens,
            seed=request.seed,
        )
        return await self._complete(call, "write")

    async def judge(self, request: JudgeRequest) -> Verdict:
        labels = [candidate.label for candidate in request.candidates]
        call = ChatCall(
            system=JUDGE_SYSTEM,
            prompt=judging_prompt(request),
            temperature=JUDGE_TEMPERATURE,
            top_p=JUDGE_TOP_P,
            max_tokens=self.judge_max_tokens,
            seed=request.seed,
        )
        try:
            answer = await self._complete(call, "judge")
        except TeacherError:
            return Verdict(None)
        return Verdict(
            parse_label(answer.text, labels), answer.prompt_tokens, answer.completion_tokens
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        self._http = open_client(
            self._http,
            headers=self._request_headers,
            timeout_s=self.config.timeout_s,
            connections=self.config.max_concurrency,
        )
        return self._http

    async def _complete(self, call: ChatCall, kind: str) -> Generation:
        """The answer to `call`, a `write` or a `judge` call, tried again as the retry policy
        says; timed, with its outcome, for the teacher's metrics."""
        if self._unmet is not None:
            raise Refused(f"not configured: {self._unmet}")
        started = time.perf_counter()
        try:
            generation = await self._retry.call(
                lambda: self._attempt(call), lambda error: self._metrics.retried(error.kind)
            )
        except TeacherError as error:
            self._metrics.call_ended(kind, error.kind, time.perf_counter() - started)
            raise
        self._metrics.call_ended(kind, "ok", time.perf_counter() - started)
        return generation

    async def _attempt(self, call: ChatCall) -> Generation:
        async with self._slots:
            if self._pace is not None:
                # Last, so that a call is sent as soon as its turn comes.
                await self._pace.wait(call_tokens(call.system, call.prompt, call.max_tokens))
            started = time.perf_counter()
            reply = await fetch(
                self._session(),
                "POST",
                self.url,
                data=orjson.dumps(self._body(call)),
                proxy=self._proxy,
            )
            latency_ms = round((time.perf_counter() - started) * 1000)
        if reply.is_error:
            raise error_for(reply)
        try:
            payload = reply.json()
        except ValueError as exc:
            raise BadResponse(f"not JSON: {_snippet(reply.text)}") from exc
        try:
            generation = self._read(payload, latency_ms)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            reason = _snippet(f"unexpected {self.config.provider} response: {reply.text}")
            raise BadResponse(reason) from exc
        if not generation.text.strip():
            raise BadResponse(f"no content: {self.finish_field} {generation.finish_reason}")
        return generation

    def _base_url(self, env: Mapping[str, str]) -> str:
        return self.config.base_url or self.default_base_url or ""

    @abstractmethod
    def _headers(self, key: str | None) -> dict[str, str]:
        """The headers every request carries; `key` is the API key when one is set."""

    @abstractmethod
    def _endpoint(self) -> str:
        """The path POSTed to, relative to the base URL."""

    @abstractmethod
    def _body(self, call: ChatCall) -> dict[str, Any]:
        """The JSON request body."""

    @abstractmethod
    def _read(self, payload: Any, latency_ms: int) -> Generation:
        """The answer in a JSON response; shape errors (KeyError, TypeError...) mean BadResponse."""


def open_client(
    current: aiohttp.ClientSession | None,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    connections: int = 100,
) -> aiohttp.ClientSession:
    """`current` while it is open, else a new client: opened on first use, so inside the
    event loop that makes the calls."""
    if current is not None and not current.closed:
        return current
    return aiohttp.ClientSession(
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=connections),
    )


def env_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY or HTTPS_PROXY names for `url`, unless NO_PROXY exempts its host.

    Read once per client: aiohttp's `trust_env` reads the whole environment again on every
    request, which tripled the CPU of a call.
    """
    target = URL(url)
    if not target.host or urllib.request.proxy_bypass(target.host):
        return None
    return urllib.request.getproxies().get(target.scheme)


async def fetch(session: aiohttp.ClientSession, method: str, url: str, **options: Any) -> Reply:
    """One request, its answer read in full; Timeout or ConnectionFailed when there is none."""
    try:
        async with session.request(method, url, **options) as response:
            return Reply(response.status, response.headers, await response.read())
    except TimeoutError as exc:
        limit = session.timeout.total
        raise Timeout(f"no answer within {limit:g}s" if limit else "timed out") from exc
    except aiohttp.ClientError as exc:
        raise ConnectionFailed(_snippet(f"cannot reach {url}: {exc or repr(exc)}")) from exc


def bearer(key: str | None) -> dict[str, str]:
    """The `Authorization` header of OpenAI-style APIs, when there is a key."""
    return {"Authorization": f"Bearer {key}"} if key else {}


def text_of(value: Any) -> str:
    """A text field of an answer: a string, or "" for null; anything else is a shape error."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def count_of(value: Any) -> int | None:
    """A token count, when the provider gave one."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_for(reply: Reply) -> TeacherError:
    """The TeacherError an HTTP error response stands for."""
    status = reply.status
    try:
        payload: Any = reply.json()
    except ValueError:
        payload = None
    message = _provider_message(payload) or reply.text
    reason = _snippet(f"HTTP {status}: {message}")
    if status == 402 or (400 <= status < 500 and _says_quota(reply.text)):
        return QuotaExhausted(reason, status=status)
    if status in (429, 529):
        retry_after = retry_hint(reply.headers, payload, message)
        return RateLimited(reason, status=status, retry_after=retry_after)
    if status in (408, 409) or status >= 500:
        return ServerError(reason, status=status)
    return Refused(reason, status=status)


def judging_prompt(request: JudgeRequest) -> str:
    """The prompt, the candidates as "Story A: ..." in the given order, and the question."""
    stories = "\n\n".join(
        f"Story {candidate.label}:\n{candidate.text.strip()}" for candidate in request.candidates
    )
    return (
        f"Prompt: {request.prompt.strip()}\n\n{stories}\n\n"
        "Which story answers the prompt best? "
        "Answer with the letter of the best story only."
    )


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label an answer names, or None.

    Read in order: "Story X"; the first standalone label token ("**B**", "B.", "(B)"), matched
    case-sensitively so the article in "a story" is not label "A"; a bare lower-case "b".
    """
    if not labels:
        return None
    choices = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    found = re.search(rf"\b(?i:story)\W*({choices})\b", answer) or re.search(
        rf"\b({choices})\b", answer
    )
    if found:
        return found.group(1)
    bare = answer.strip(" \t\n*_.:()[]\"'`").upper()
    return bare if bare in labels else None


def _provider_message(payload: Any) -> str | None:
    """The message of an error body: `error.message`, `error` or `message`, by provider."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    message = error if isinstance(error, str) else payload.get("message")
    return message if isinstance(message, str) else None


def _says_quota(body: str) -> bool:
    text = body.lower()
    return any(marker in text for marker in _QUOTA_MARKERS)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."
