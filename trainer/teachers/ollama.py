"""Ollama's native chat API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from yarl import URL

from trainer.teachers.base import Generation, TeacherConfig
from trainer.teachers.http import ChatCall, HttpTeacher, count_of, text_of

HOST_ENV = "OLLAMA_HOST"
_DEFAULT_PORT = 11434
_NANOSECONDS_PER_MS = 1_000_000


class OllamaTeacher(HttpTeacher):
    """`POST {host}/api/chat`, not streamed. The host is `base_url`, else the variable that
    `api_key_env` names (OLLAMA_HOST by default), as the ollama client reads it."""

    finish_field: ClassVar[str] = "done_reason"

    @classmethod
    def unmet_requirement(cls, config: TeacherConfig, env: Mapping[str, str]) -> str | None:
        host_env = config.api_key_env or HOST_ENV
        if config.base_url is None and not env.get(host_env):
            return f"{host_env} is not set"
        return None

    def _base_url(self, env: Mapping[str, str]) -> str:
        if self.config.base_url:
            return self.config.base_url
        host = env.get(self.config.api_key_env or HOST_ENV)
        return _host_url(host) if host else ""

    def _headers(self, key: str | None) -> dict[str, str]:
        return {}

    def _endpoint(self) -> str:
        return "/api/chat"

    def _body(self, call: ChatCall) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": call.temperature,
            "top_p": call.top_p,
            "num_predict": call.max_tokens,
        }
        if call.seed is not None:
            options["seed"] = call.seed
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": call.system},
                {"role": "user", "content": call.prompt},
            ],
            "stream": False,
            "options": options,
        }

    def _read(self, payload: Any, latency_ms: int) -> Generation:
        # Ollama times the generation itself, in nanoseconds, without the HTTP round trip.
        total_duration = count_of(payload.get("total_duration"))
        if total_duration is not None:
            latency_ms = round(total_duration / _NANOSECONDS_PER_MS)
        return Generation(
            text=text_of(payload["message"].get("content")),
            latency_ms=latency_ms,
            prompt_tokens=count_of(payload.get("prompt_eval_count")),
            completion_tokens=count_of(payload.get("eval_count")),
            finish_reason=payload.get("done_reason"),
        )


def _host_url(host: str) -> str:
    """OLLAMA_HOST read as the ollama client reads it: "gpu-box" -> "http://gpu-box:11434";
    a URL with a scheme is taken as it is."""
    if "://" in host:
        return host
    url = URL(f"http://{host}")
    return str(url.with_port(url.explicit_port or _DEFAULT_PORT))
