"""What every teacher is: a named model behind one provider protocol.

Errors a teacher call can end with, read by the retry policy and by the vote::

    TeacherError                 any failed call; the output is missing, the session goes on
    ├── RateLimited              429/529 and friends; carries the server's retry hint
    ├── ServerError              5xx, 408, 409: worth another try
    ├── ConnectionFailed         the server could not be reached: worth another try
    ├── Timeout                  no answer within the teacher's timeout_s
    ├── Refused                  the provider declined: blocked prompt, 400/401/403/404/422
    ├── QuotaExhausted           a daily quota or spend limit: final until the quota resets
    └── BadResponse              an answer that is not the protocol's shape, or has no text
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

PROVIDERS = ("openai", "gemini", "ollama", "tgi", "anthropic", "offline")


@dataclass(frozen=True)
class TeacherConfig:
    """One entry of the teachers file (`[[teachers]]`), or of the default ensemble."""

    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 600
    max_concurrency: int = 8
    timeout_s: float = 60.0
    # USD per million tokens, from the provider's terms; None: the cost is not known.
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    # The provider's limits; calls are paced to stay within them (trainer/teachers/pacing.py).
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def priced(self) -> bool:
        """Whether what its calls cost is known: it has prices, or it runs offline."""
        return self.provider == "offline" or (
            self.input_price_per_mtok is not None and self.output_price_per_mtok is not None
        )

    def cost_usd(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """What a call with these token counts cost; None when the teacher has no price or
        the provider did not report the counts. Offline teachers cost nothing."""
        if self.provider == "offline":
            return 0.0
        if (
            self.input_price_per_mtok is None
            or self.output_price_per_mtok is None
            or prompt_tokens is None
            or completion_tokens is None
        ):
            return None
        return (
            prompt_tokens * self.input_price_per_mtok
            + completion_tokens * self.output_price_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class GenerationRequest:
    """A story to write: the system instruction, the user prompt and an optional seed."""

    system: str
    prompt: str
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    """A teacher's answer."""

    text: str
    latency_ms: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: the label it votes for (None: it abstains or its call failed) and
    the tokens its call used, when the provider reported them."""

    label: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One anonymised output shown to a judge."""

    label: str
    text: str


@dataclass(frozen=True)
class JudgeRequest:
    """The prompt the stories answered and the other teachers' outputs, shuffled."""

    prompt: str
    candidates: tuple[Candidate, ...]
    seed: int | None = None


class TeacherError(Exception):
    """A teacher call failed; `reason` is the short text kept on the output, `kind` names
    the class of failure in metrics."""

    retryable = False
    kind = "error"

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RateLimited(TeacherError):
    retryable = True
    kind = "rate_limited"

    def __init__(
        self, reason: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class ServerError(TeacherError):
    retryable = True
    kind = "server_error"


class ConnectionFailed(TeacherError):
    retryable = True
    kind = "connection_failed"


class Timeout(TeacherError):
    retryable = True
    kind = "timeout"


class Refused(TeacherError):
    kind = "refused"


class QuotaExhausted(TeacherError):
    kind = "quota_exhausted"


class BadResponse(TeacherError):
    kind = "bad_response"


@runtime_checkable
class Teacher(Protocol):
    """A member of the ensemble. Network teachers hold one HTTP client session each."""

    config: TeacherConfig

    @property
    def name(self) -> str: ...

    @property
    def available(self) -> bool:
        """False when the key or host it needs is not configured."""
        ...

    @property
    def offline(self) -> bool: ...

    async def generate(self, request: GenerationRequest) -> Generation:
        """Write the story, or raise a TeacherError."""
        ...

    async def judge(self, request: JudgeRequest) -> Verdict:
        """The label of the candidate this teacher votes for, and what the call used."""
        ...

    async def aclose(self) -> None: ...
