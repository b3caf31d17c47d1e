"""A fake of the five teacher protocols, served over real HTTP, for tests and benchmarks.

Each protocol answers in its provider's JSON shape, checks the auth headers the provider
requires, writes a story that depends on the model and the prompt, and answers a judging
prompt with the label of the longest story. Faults are planned per model name::

    with FakeProvider() as fake:                     # or: async with run_fake_provider() as fake
        config = TeacherConfig("t", "openai", "m", base_url=fake.base_url("openai"))
        fake.faults.plan("m", rate_limited(retry_after_ms=50), server_error(503))
        fake.faults.set_latency("m", 0.05)
        ...
        assert fake.requests[0].json["max_tokens"] == 600

A planned fault answers one request, in order; when none is left the model answers normally.
A model may also be given a requests-per-minute limit, which the fake enforces as providers
do, with 429s (`fake.rate_limits.limit("m", requests_per_minute=600, window_s=1)`).
TGI carries no model name, so its requests are planned and logged under `TGI_MODEL`.
OpenAI's files and fine-tuning jobs are faked too, in `fake.fine_tuning` (`FakeFineTuning`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import socket
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TGI_MODEL = "tgi"
JUDGE_MARKER = "Answer with the letter"
_STORY_LABEL = re.compile(
    r"^Story (\w+):\n(.*?)(?=\n\nStory \w+:\n|\n\nWhich story|\Z)", re.M | re.S
)
_STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as the fake received it."""

    path: str
    headers: Mapping[str, str]
    json: Any
    model: str
    prompt: str


@dataclass(frozen=True)
class Call:
    """What a fault sees of the request it answers."""

    model: str
    prompt: str
    body: Any
    started_ns: int


class Dialect(ABC):
    """One provider's protocol: where the model and prompt are, and its answer shapes."""

    @abstractmethod
    def model(self, path_params: Mapping[str, Any], body: Any) -> str: ...

    @abstractmethod
    def prompt(self, body: Any) -> str: ...

    @abstractmethod
    def denied(self, headers: Headers) -> Response | None:
        """The provider's answer to a request missing its auth headers."""

    @abstractmethod
    def answer(self, call: Call, text: str) -> dict[str, Any]: ...

    @abstractmethod
    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Fault:
    """A planned answer to one request: held for `hold_s` (or until the client hangs up),
    then rendered in the request's dialect."""

    render: Callable[[Dialect, Call], Response]
    hold_s: float = 0.0


class Faults:
    """The faults and latencies planned per model name; shared with the server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._planned: dict[str, deque[Fault]] = {}
        self._latency: dict[str, float] = {}

    def plan(self, model: str, *faults: Fault) -> None:
        """Answer the next requests for `model` with `faults`, in order."""
        with self._lock:
            self._planned.setdefault(model, deque()).extend(faults)

    def set_latency(self, model: str, seconds: float) -> None:
        """Hold every answer for `model` this long."""
        with self._lock:
            self._latency[model] = seconds

    def remaining(self, model: str) -> int:
        with self._lock:
            return len(self._planned.get(model, ()))

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()
            self._latency.clear()

    def take(self, model: str) -> tuple[Fault | None, float]:
        """The next planned fault for `model`, if any, and its latency; called per request."""
        with self._lock:
            planned = self._planned.get(model)
            fault = planned.popleft() if planned else None
            return fault, self._latency.get(model, 0.0)


class RateLimits:
    """Requests-per-minute limits per model name, enforced as a provider enforces them: a
    request past the limit is answered 429 with a `retry-after-ms` hint, and not counted.

    With `window_s` under 60, the limit is quantized as OpenAI documents its own: 600 a
    minute in one-second windows is at most 10 in any second. The windows move: at most that
    many requests arrive in any `window_s` seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, tuple[float, float]] = {}
        self._admitted: dict[str, deque[float]] = {}
        self._rejected: dict[str, int] = {}

    def limit(self, model: str, *, requests_per_minute: int, window_s: float = 60.0) -> None:
        with self._lock:
            self._limits[model] = (requests_per_minute * window_s / 60, window_s)

    def rejected(self, model: str) -> int:
        """How many of the model's requests were answered 429."""
        with self._lock:
            return self._rejected.get(model, 0)

    def clear(self) -> None:
        with self._lock:
            self._limits.clear()
            self._admitted.clear()
            self._rejected.clear()

    def admit(self, model: str) -> float | None:
        """None when a request for `model` may go on now; else seconds until it may."""
        now = time.monotonic()
        with self._lock:
            if model not in self._limits:
                return None
            allowed, window_s = self._limits[model]
            admitted = self._admitted.setdefault(model, deque())
            while admitted and admitted[0] <= now - window_s:
                admitted.popleft()
            if len(admitted) + 1 > allowed:
                self._rejected[model] = self._rejected.get(model, 0) + 1
                return admitted[0] + window_s - now
            admitted.append(now)
            return None


# Faults, in the shape of the request's provider unless named for one provider.


def reply(text: str) -> Fault:
    """A normal answer with this text (e.g. a judge's "**B**")."""
    return Fault(lambda dialect, call: JSONResponse(dialect.answer(call, text)))


def respond(body: Any) -> Fault:
    """A 200 with this literal JSON body, whatever the protocol."""
    return Fault(lambda dialect, call: JSONResponse(body))


def error(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
    details: Sequence[Any] = (),
) -> Fault:
    """An error in the provider's error shape."""
    return Fault(
        lambda dialect, call: JSONResponse(
            dialect.error(status, message, code=code, details=details),
            status_code=status,
            headers=dict(headers or {}),
        )
    )


def rate_limited(*, retry_after_ms: int | None = None, retry_after: str | None = None) -> Fault:
    """429 with a `retry-after-ms` and/or `Retry-After` (seconds or HTTP date) header."""
    headers = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return error(
        429, "Rate limit reached for requests", headers=headers, code="rate_limit_exceeded"
    )


def gemini_rate_limited(retry_delay: str) -> Fault:
    """Gemini's per-minute 429 RESOURCE_EXHAUSTED, with RetryInfo `retryDelay` (e.g. "1s")."""
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            _quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def groq_rate_limited(wait: str) -> Fault:
    """Groq's per-minute 429, whose only hint is "Please try again in 1.2s" in the message."""
    return error(
        429,
        "Rate limit reached for model `llama-3.3-70b-versatile` on tokens per minute (TPM): "
        f"Limit 6000, Used 5900, Requested 600. Please try again in {wait}. "
        "Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
        code="rate_limit_exceeded",
    )


def daily_quota() -> Fault:
    """A 429 for a spent daily quota (OpenAI's insufficient_quota, Gemini's PerDay quota)."""
    return error(
        429,
        "You exceeded your current quota: requests per day. Check your plan and billing details.",
        code="insufficient_quota",
        details=[_quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
    )


def server_error(status: int = 500) -> Fault:
    """A 5xx (500, 503, or Anthropic's 529 overloaded)."""
    return error(status, "Overloaded" if status == 529 else "The server had an error")


def hang(seconds: float) -> Fault:
    """No answer for `seconds` (past the client's timeout), then a normal one."""
    return Fault(_normal_answer, hold_s=seconds)


def malformed_json() -> Fault:
    """A 200 whose body is not JSON."""
    return Fault(lambda dialect, call: Response('{"choices": [', media_type="application/json"))


def wrong_shape() -> Fault:
    """A 200 with JSON of no provider's shape."""
    return respond({"result": "ok"})


def gemini_blocked(reason: str = "SAFETY") -> Fault:
    """Gemini refusing the prompt: `promptFeedback.blockReason` and no candidates."""
    return respond(
        {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 9}}
    )


def gemini_max_tokens() -> Fault:
    """A Gemini thinking model that spent maxOutputTokens thinking: a candidate, no content."""
    body = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
        "usageMetadata": {"promptTokenCount": 9, "thoughtsTokenCount": 600},
    }
    return respond(body)


def empty_choices() -> Fault:
    """An OpenAI-compatible answer with `choices: []`."""
    body = {"id": "chatcmpl-0", "object": "chat.completion", "choices": []}
    return respond(body)


def null_content(finish_reason: str = "content_filter") -> Fault:
    """An OpenAI-compatible choice with `content: null`."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": None},
        "finish_reason": finish_reason,
    }
    body = {"id": "chatcmpl-0", "object": "chat.completion", "choices": [choice]}
    return respond(body)


def _quota_failure(quota_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generate_content_free_tier_requests", "quotaId": quota_id}],
    }


def normal_answer(dialect: Dialect, call: Call) -> dict[str, Any]:
    """The body of the answer `dialect` gives `call` when no fault is planned."""
    return dialect.answer(call, _text_for(call))


def _normal_answer(dialect: Dialect, call: Call) -> Response:
    return JSONResponse(normal_answer(dialect, call))


def _text_for(call: Call) -> str:
    if JUDGE_MARKER in call.prompt:
        stories = _STORY_LABEL.findall(call.prompt)
        return f"Story {max(stories, key=lambda story: len(story[1]))[0]}" if stories else "?"
    return story(call.model, call.prompt)


def story(model: str, prompt: str) -> str:
    """The story `model` writes for `prompt`: a few sentences that differ by model and prompt."""
    rng = random.Random(zlib.crc32(f"{model}\n{prompt}".encode()))
    hero = rng.choice(["Mara", "Tobias", "Ines", "Oren", "Lila", "Caspian", "Wren", "Dario"])
    place = rng.choice(["a lighthouse", "a desert town", "an orbital garden", "a flooded city"])
    mood = rng.choice(["quiet", "restless", "bright", "stormy", "golden"])
    subject = prompt.strip().rstrip(".!?") or "nothing at all"
    return (
        f"{hero} lived in {place}, where every morning felt {mood}. "
        f"One day the old question came back: {subject}. "
        f'"We cannot keep waiting," {hero} whispered, gathering a lantern and a worn map. '
        f"The journey was long and strange, full of shimmering roads and honest strangers, "
        f"and by the end {hero} understood that the answer had been waiting at home all along."
    )


def _words(text: str) -> int:
    return len(text.split())


class _OpenAI(Dialect):
    def model(self, path_params: Mapping[str, Any], body: Any) -> str:
        return str(body.get("model", ""))

    def prompt(self, body: Any) -> str:
        return "\n".join(m["content"] for m in body.get("messages", []) if m["role"] == "user")

    def denied(self, headers: Headers) -> Response | None:
        if headers.get("authorization", "").removeprefix("Bearer ").strip():
            return None
        body = self.error(401, "Invalid API Key", code="invalid_api_key", details=())
        return JSONResponse(body, status_code=401)

    def answer(self, call: Call, text: str) -> dict[str, Any]:
        prompt_tokens, completion_tokens = _words(call.prompt), _words(text)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]:
        kind = code if code == "insufficient_quota" else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class _Gemini(Dialect):
    def model(self, path_params: Mapping[str, Any], body: Any) -> str:
        return str(path_params["model"])

    def prompt(self, body: Any) -> str:
        return "\n".join(
            part["text"] for content in body.get("contents", []) for part in content["parts"]
        )

    def denied(self, headers: Headers) -> Response | None:
        if headers.get("x-goog-api-key"):
            return None
        body = self.error(401, "Method doesn't allow unregistered callers.", code=None, details=())
        return JSONResponse(body, status_code=401)

    def answer(self, call: Call, text: str) -> dict[str, Any]:
        prompt_tokens, completion_tokens = _words(call.prompt), _words(text)
        return {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": part} for part in _halves(text)],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": completion_tokens,
                "totalTokenCount": prompt_tokens + completion_tokens,
            },
            "modelVersion": call.model,
        }

    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = list(details)
        return {"error": error}


def _halves(text: str) -> list[str]:
    """Gemini may split an answer over several parts; the fake always uses two when it can."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]] if middle else [text]


class _Ollama(Dialect):
    def model(self, path_params: Mapping[str, Any], body: Any) -> str:
        return str(body.get("model", ""))

    def prompt(self, body: Any) -> str:
        return "\n".join(m["content"] for m in body.get("messages", []) if m["role"] == "user")

    def denied(self, headers: Headers) -> Response | None:
        return None

    def answer(self, call: Call, text: str) -> dict[str, Any]:
        total_ns = time.perf_counter_ns() - call.started_ns
        return {
            "model": call.model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "total_duration": total_ns,
            "load_duration": total_ns // 10,
            "prompt_eval_count": _words(call.prompt),
            "prompt_eval_duration": total_ns // 5,
            "eval_count": _words(text),
            "eval_duration": total_ns // 2,
        }

    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]:
        return {"error": message}


class _Tgi(Dialect):
    def model(self, path_params: Mapping[str, Any], body: Any) -> str:
        return TGI_MODEL

    def prompt(self, body: Any) -> str:
        return str(body.get("inputs", ""))

    def denied(self, headers: Headers) -> Response | None:
        return None

    def answer(self, call: Call, text: str) -> dict[str, Any]:
        parameters = call.body.get("parameters", {})
        details = {"finish_reason": "eos_token", "generated_tokens": _words(text), "seed": None}
        if parameters.get("details"):
            return {"generated_text": text, "details": details}
        return {"generated_text": text}

    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]:
        return {"error": message, "error_type": code or "generation"}


class _Anthropic(Dialect):
    def model(self, path_params: Mapping[str, Any], body: Any) -> str:
        return str(body.get("model", ""))

    def prompt(self, body: Any) -> str:
        return "\n".join(m["content"] for m in body.get("messages", []) if m["role"] == "user")

    def denied(self, headers: Headers) -> Response | None:
        if not headers.get("x-api-key"):
            body = self.error(
                401, "x-api-key header is required", code="authentication_error", details=()
            )
            return JSONResponse(body, status_code=401)
        if not headers.get("anthropic-version"):
            body = self.error(400, "anthropic-version: header is required", code=None, details=())
            return JSONResponse(body, status_code=400)
        return None

    def answer(self, call: Call, text: str) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _words(call.prompt), "output_tokens": _words(text)},
        }

    def error(
        self, status: int, message: str, *, code: str | None, details: Sequence[Any]
    ) -> dict[str, Any]:
        kind = code or {529: "overloaded_error", 429: "rate_limit_error"}.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}


FILES_MODEL = "files"
_FINE_TUNING_STEPS = ("validating_files", "queued", "running")


@dataclass
class FineTuningJob:
    """A job of the fake fine-tuning API: `validating_files` when created, one step further
    at each poll (`queued`, `running`), then `succeeded`, or `failed` with `failure`."""

    id: str
    model: str
    training_file: str
    suffix: str | None
    failure: str | None
    polls: int = 0

    @property
    def status(self) -> str:
        if self.polls < len(_FINE_TUNING_STEPS):
            return _FINE_TUNING_STEPS[self.polls]
        return "failed" if self.failure else "succeeded"

    def body(self) -> dict[str, Any]:
        status = self.status
        succeeded, failed = status == "succeeded", status == "failed"
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "training_file": self.training_file,
            "status": status,
            "fine_tuned_model": (
                f"ft:{self.model}:fake-org:{self.suffix}:{self.id}" if succeeded else None
            ),
            "error": (
                {"code": "invalid_training_file", "message": self.failure, "param": None}
                if failed
                else None
            ),
        }


class FakeFineTuning:
    """OpenAI's files and fine-tuning jobs API, keeping what was uploaded for tests to read.

    Faults are planned as for chat: an upload under `FILES_MODEL`, a job's creation under its
    base model, its polls under its id ("ftjob-1", "ftjob-2", ... in order of creation). Jobs
    created while `failure` is set end failed with it as their error message.
    """

    def __init__(self, faults: Faults, requests: list[ReceivedRequest]) -> None:
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, FineTuningJob] = {}
        self.failure: str | None = None
        self._faults = faults
        self._requests = requests
        self._dialect = _OpenAI()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self._create, methods=["POST"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self._poll, methods=["GET"]),
        ]

    def clear(self) -> None:
        self.files.clear()
        self.jobs.clear()
        self.failure = None

    async def _upload(self, request: Request) -> Response:
        async with request.form() as form:
            purpose, upload = form.get("purpose"), form.get("file")
            filename, content = None, None
            if isinstance(upload, UploadFile):
                filename, content = upload.filename, await upload.read()
        body = {"purpose": purpose, "filename": filename}
        intercepted = await self._intercept(request, FILES_MODEL, body)
        if intercepted is not None:
            return intercepted
        if content is None or purpose != "fine-tune":
            return self._error(400, "Send `file` and `purpose=fine-tune` as multipart form data.")
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return JSONResponse(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "filename": filename,
                "purpose": purpose,
            }
        )

    async def _create(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        intercepted = await self._intercept(request, model, body)
        if intercepted is not None:
            return intercepted
        training_file = body.get("training_file")
        if training_file not in self.files:
            return self._error(400, f"invalid training_file: {training_file}")
        job_id = f"ftjob-{len(self.jobs) + 1}"
        job = FineTuningJob(job_id, model, training_file, body.get("suffix"), self.failure)
        self.jobs[job_id] = job
        return JSONResponse(job.body())

    async def _poll(self, request: Request) -> Response:
        job_id = str(request.path_params["job_id"])
        intercepted = await self._intercept(request, job_id, None)
        if intercepted is not None:
            return intercepted
        job = self.jobs.get(job_id)
        if job is None:
            return self._error(404, f"No fine-tuning job found with id {job_id}.")
        job.polls += 1
        return JSONResponse(job.body())

    async def _intercept(self, request: Request, model: str, body: Any) -> Response | None:
        """Log the request; answer it with a denial or a planned fault, if there is one."""
        started_ns = time.perf_counter_ns()
        self._requests.append(
            ReceivedRequest(request.url.path, dict(request.headers), body, model, "")
        )
        denied = self._dialect.denied(request.headers)
        if denied is not None:
            return denied
        fault, latency = self._faults.take(model)
        await _hold(request, latency + (fault.hold_s if fault else 0.0))
        return fault.render(self._dialect, Call(model, "", body, started_ns)) if fault else None

    def _error(self, status: int, message: str) -> Response:
        body = self._dialect.error(status, message, code=None, details=())
        return JSONResponse(body, status_code=status)


# Each protocol's chat endpoint; Gemini's names the model in its path.
CHAT_PATHS: dict[str, Dialect] = {
    "/v1/chat/completions": _OpenAI(),
    "/v1beta/models/{model}:generateContent": _Gemini(),
    "/api/chat": _Ollama(),
    "/generate": _Tgi(),
    "/v1/messages": _Anthropic(),
}
_BASE_PATHS = {"openai": "/v1", "gemini": "", "ollama": "", "tgi": "", "anthropic": ""}


class FakeProvider:
    """The five protocols on 127.0.0.1, served by uvicorn in a background thread."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.rate_limits = RateLimits()
        self.requests: list[ReceivedRequest] = []
        self.fine_tuning = FakeFineTuning(self.faults, self.requests)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                *(
                    Route(path, self._endpoint(dialect), methods=["POST"])
                    for path, dialect in CHAT_PATHS.items()
                ),
                *self.fine_tuning.routes(),
            ]
        )

    def base_url(self, provider: str) -> str:
        """The `base_url` a TeacherConfig of `provider` uses to reach the fake."""
        return self.url + _BASE_PATHS[provider]

    def requests_for(self, model: str) -> list[ReceivedRequest]:
        return [request for request in self.requests if request.model == model]

    def reset(self) -> None:
        """Forget the planned faults, latencies, limits and received requests."""
        self.faults.clear()
        self.rate_limits.clear()
        self.requests.clear()
        self.fine_tuning.clear()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-provider", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _endpoint(self, dialect: Dialect) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            started_ns = time.perf_counter_ns()
            body = await request.json()
            call = Call(
                dialect.model(request.path_params, body), dialect.prompt(body), body, started_ns
            )
            self.requests.append(
                ReceivedRequest(
                    request.url.path, dict(request.headers), body, call.model, call.prompt
                )
            )
            denied = dialect.denied(request.headers)
            if denied is not None:
                return denied
            wait_s = self.rate_limits.admit(call.model)
            if wait_s is not None:
                return rate_limited(retry_after_ms=math.ceil(wait_s * 1000)).render(dialect, call)
            fault, latency = self.faults.take(call.model)
            await _hold(request, latency + (fault.hold_s if fault else 0.0))
            return (fault.render if fault else _normal_answer)(dialect, call)

        return endpoint


async def _hold(request: Request, seconds: float) -> None:
    """Wait `seconds`, or less if the client hangs up first."""
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await request.receive()


@contextlib.asynccontextmanager
async def run_fake_provider() -> AsyncIterator[FakeProvider]:
    """A started FakeProvider for async code; stopped on exit."""
    fake = FakeProvider()
    await asyncio.to_thread(fake.start)
    try:
        yield fake
    finally:
        await asyncio.to_thread(fake.stop)
